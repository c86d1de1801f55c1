package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// got is one message or control frame a frameReader emitted.
type got struct {
	op      ws.OpCode
	payload string
}

func (g got) String() string { return fmt.Sprintf("%d:%q", g.op, g.payload) }

// feedAll feeds each chunk to a fresh reader and returns what it emitted and
// the first error.
func feedAll(limit int64, chunks ...[]byte) (*frameReader, []got, error) {
	r := &frameReader{limit: limit}
	var out []got
	emit := func(op ws.OpCode, p []byte) error {
		out = append(out, got{op, string(p)})
		return nil
	}
	for _, c := range chunks {
		if err := r.feed(c, emit); err != nil {
			return r, out, err
		}
	}
	return r, out, nil
}

// Golden server frames (unmasked).
var (
	frameHello  = []byte("\x81\x064hello")       // text "4hello"
	framePing   = []byte("\x81\x012")            // Engine.IO ping "2"
	frameWSPing = []byte("\x89\x02hi")           // WebSocket ping "hi"
	frameClose  = []byte("\x88\x02\x03\xe8")     // close, status 1000
	frameBinary = []byte("\x82\x03\x01\x02\x03") // binary 01 02 03
)

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func TestFrameReaderSplitAnywhere(t *testing.T) {
	// One frame split over two reads at every position, and over as many
	// reads as it has bytes: one message, nothing kept.
	want := []got{{ws.OpText, "4hello"}}
	for i := 0; i <= len(frameHello); i++ {
		r, out, err := feedAll(0, frameHello[:i], frameHello[i:])
		if err != nil || fmt.Sprint(out) != fmt.Sprint(want) || r.pend != nil {
			t.Errorf("split at %d: %v %v, pending %d", i, out, err, len(r.pend))
		}
	}
	var chunks [][]byte
	for i := range frameHello {
		chunks = append(chunks, frameHello[i:i+1])
	}
	r, out, err := feedAll(0, chunks...)
	if err != nil || fmt.Sprint(out) != fmt.Sprint(want) || r.pend != nil {
		t.Errorf("byte by byte: %v %v, pending %d", out, err, len(r.pend))
	}
}

func TestFrameReaderSeveralFramesInOneRead(t *testing.T) {
	// Two whole frames and the start of a third in one read, its end in
	// the next.
	data := cat(frameHello, framePing, frameBinary[:2])
	r, out, err := feedAll(0, data, frameBinary[2:])
	want := []got{{ws.OpText, "4hello"}, {ws.OpText, "2"}, {ws.OpBinary, "\x01\x02\x03"}}
	if err != nil || fmt.Sprint(out) != fmt.Sprint(want) {
		t.Errorf("got %v %v, want %v", out, err, want)
	}
	if r.pending() != 0 {
		t.Errorf("%d bytes still held", r.pending())
	}
}

func TestFrameReaderLengths(t *testing.T) {
	// A 16-bit length (300 bytes) and a 64-bit one (70,000 bytes), each
	// split in the middle of its header and of its payload.
	p16 := strings.Repeat("a", 300)
	f16 := cat([]byte{0x81, 126, 0x01, 0x2c}, []byte(p16))
	p64 := strings.Repeat("b", 70000)
	f64 := cat([]byte{0x82, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70}, []byte(p64))
	r, out, err := feedAll(0, f16[:3], f16[3:150], cat(f16[150:], f64[:5]), f64[5:40000])
	if err != nil || len(out) != 1 || out[0] != (got{ws.OpText, p16}) {
		t.Fatalf("16-bit frame: %d messages, %v", len(out), err)
	}
	// The 64-bit frame is held in a buffer sized for it, grown once.
	if len(r.pend) != 40000 || cap(r.pend) != len(f64) {
		t.Errorf("pending %d bytes in a buffer of %d, want 40000 in %d", len(r.pend), cap(r.pend), len(f64))
	}
	emit := func(op ws.OpCode, p []byte) error {
		out = append(out, got{op, string(p)})
		return nil
	}
	if err := r.feed(f64[40000:], emit); err != nil || len(out) != 2 || out[1] != (got{ws.OpBinary, p64}) {
		t.Fatalf("64-bit frame: %d messages, %v", len(out), err)
	}
	if r.pend != nil {
		t.Errorf("buffer of %d bytes kept once idle", cap(r.pend))
	}
}

func TestFrameReaderFragmentedMessage(t *testing.T) {
	// "4he" + "llo" as a text frame and a continuation, with a ping and a
	// pong between them: control frames come at once, the message whole.
	data := cat([]byte("\x01\x034he"), frameWSPing, []byte("\x8a\x00"), []byte("\x80\x03llo"))
	for i := 0; i <= len(data); i++ {
		_, out, err := feedAll(0, data[:i], data[i:])
		want := []got{{ws.OpPing, "hi"}, {ws.OpPong, ""}, {ws.OpText, "4hello"}}
		if err != nil || fmt.Sprint(out) != fmt.Sprint(want) {
			t.Fatalf("split at %d: %v %v, want %v", i, out, err, want)
		}
	}
}

func TestFrameReaderCloseFrame(t *testing.T) {
	_, out, err := feedAll(0, cat(frameClose, frameHello))
	want := []got{{ws.OpClose, "\x03\xe8"}, {ws.OpText, "4hello"}}
	if err != nil || fmt.Sprint(out) != fmt.Sprint(want) {
		t.Errorf("got %v %v, want %v", out, err, want)
	}
}

func TestFrameReaderPause(t *testing.T) {
	// An emitFunc returning errPause stops after its frame; the rest is
	// kept for feed(nil, …).
	r := &frameReader{}
	var out []got
	err := r.feed(cat(frameHello, framePing, frameHello[:3]), func(op ws.OpCode, p []byte) error {
		out = append(out, got{op, string(p)})
		return errPause
	})
	if err != nil || len(out) != 1 || r.pending() != len(framePing)+3 {
		t.Fatalf("%v %v, %d pending", out, err, r.pending())
	}
	err = r.feed(nil, func(op ws.OpCode, p []byte) error {
		out = append(out, got{op, string(p)})
		return nil
	})
	if err != nil || len(out) != 2 || out[1].payload != "2" || r.pending() != 3 {
		t.Errorf("%v %v, %d pending", out, err, r.pending())
	}
}

func TestFrameReaderRejects(t *testing.T) {
	for name, c := range map[string]struct {
		data []byte
		err  error
	}{
		"masked":                 {[]byte("\x81\x81abcdX"), errWSProtocol},
		"reserved bits":          {[]byte("\xc1\x01a"), errWSProtocol},
		"reserved opcode":        {[]byte("\x83\x01a"), errWSProtocol},
		"reserved control":       {[]byte("\x8b\x00"), errWSProtocol},
		"long control":           {cat([]byte{0x89, 126, 0, 126}, make([]byte, 126)), errWSProtocol},
		"fragmented control":     {[]byte("\x09\x00"), errWSProtocol},
		"stray continuation":     {[]byte("\x80\x01a"), errWSProtocol},
		"data inside fragmented": {[]byte("\x01\x01a\x81\x01b"), errWSProtocol},
		"64-bit top bit":         {[]byte("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x01"), errWSProtocol},
		"over the limit":         {[]byte("\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x01"), errWSTooLarge},
		"fragments over limit":   {cat([]byte("\x02\x7e\x00\xff"), make([]byte, 255), []byte("\x80\x7e\x00\xff"), make([]byte, 255)), errWSTooLarge},
	} {
		_, out, err := feedAll(400, c.data)
		if !errors.Is(err, c.err) {
			t.Errorf("%s: %v (emitted %v), want %v", name, err, out, c.err)
		}
	}
}

// readClientFrame decodes one client frame from b: it must be final and
// masked. It returns the unmasked payload and the rest of b.
func readClientFrame(t *testing.T, b []byte) (op ws.OpCode, payload, rest []byte) {
	t.Helper()
	h, err := ws.ReadHeader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("client frame % x: %v", b, err)
	}
	if !h.Fin || !h.Masked || h.Rsv != 0 {
		t.Fatalf("client frame header %+v, want final and masked", h)
	}
	hl := 2 + 4
	switch {
	case h.Length > 0xFFFF:
		hl += 8
	case h.Length > 125:
		hl += 2
	}
	if int64(len(b)) < int64(hl)+h.Length {
		t.Fatalf("client frame of %d bytes in %d", h.Length, len(b)-hl)
	}
	payload = bytes.Clone(b[hl : hl+int(h.Length)])
	ws.Cipher(payload, h.Mask, 0)
	return h.OpCode, payload, b[hl+int(h.Length):]
}

func TestAppendClientFrame(t *testing.T) {
	for _, n := range []int{0, 124, 125, 126, 0xFFFF, 0x10000} {
		data := bytes.Repeat([]byte{'z'}, n)
		b := appendClientFrame([]byte("keep"), ws.OpText, '4', data)
		if string(b[:4]) != "keep" {
			t.Fatalf("prefix overwritten: %q", b[:4])
		}
		op, payload, rest := readClientFrame(t, b[4:])
		want := append([]byte{'4'}, data...)
		if op != ws.OpText || !bytes.Equal(payload, want) || len(rest) != 0 {
			t.Errorf("%d bytes: opcode %d, payload of %d bytes, %d left", n, op, len(payload), len(rest))
		}
		// The length takes its shortest encoding.
		wantLen := map[bool]byte{true: byte(n + 1)}[n+1 <= 125]
		switch {
		case n+1 > 0xFFFF:
			wantLen = 127
		case n+1 > 125:
			wantLen = 126
		}
		if b[5]&0x7f != wantLen {
			t.Errorf("%d bytes: length byte %d, want %d", n, b[5]&0x7f, wantLen)
		}
	}
	op, payload, _ := readClientFrame(t, appendClientFrame(nil, ws.OpPong, -1, []byte("hi")))
	if op != ws.OpPong || string(payload) != "hi" {
		t.Errorf("pong: %d %q", op, payload)
	}
}

func TestParseOpen(t *testing.T) {
	o, err := parseOpen([]byte(`{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`))
	if err != nil || o.SID != "abc" || o.PingInterval != 25000 || o.PingTimeout != 20000 {
		t.Errorf("%+v %v", o, err)
	}
	for _, bad := range []string{``, `{`, `{"sid":""}`, `{"sid":"a","pingInterval":-1}`, `[]`} {
		if _, err := parseOpen([]byte(bad)); !errors.Is(err, errEngineIO) {
			t.Errorf("parseOpen(%q): %v", bad, err)
		}
	}
}

func TestWSTarget(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:3000/socket.io/":       "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket",
		"ws://h/x/?token=a%20b&EIO=3":            "ws://h/x/?EIO=4&token=a+b&transport=websocket",
		"http://h":                               "ws://h/engine.io/?EIO=4&transport=websocket",
		"https://h:1/socket.io/#frag":            "wss://h:1/socket.io/?EIO=4&transport=websocket",
		"http://127.0.0.1:3000/custom/path/io/":  "ws://127.0.0.1:3000/custom/path/io/?EIO=4&transport=websocket",
		"http://[::1]:3000/socket.io/?transport": "ws://[::1]:3000/socket.io/?EIO=4&transport=websocket",
	} {
		got, tls, err := wsTarget(in)
		if err != nil || got != want || tls != strings.HasPrefix(want, "wss:") {
			t.Errorf("wsTarget(%q) = %q %v %v, want %q", in, got, tls, err, want)
		}
	}
	if _, _, err := wsTarget("ftp://h/"); err == nil {
		t.Error("ftp URL accepted")
	}
}

// FuzzEpollFrames feeds arbitrary bytes to a frameReader whole and split
// at two points: it must never panic, and the splits must not change what
// is emitted, the error, nor what is kept.
func FuzzEpollFrames(f *testing.F) {
	seeds := [][]byte{
		frameHello, framePing, frameWSPing, frameClose, frameBinary,
		cat(frameHello, framePing, frameBinary[:2]),
		cat([]byte("\x01\x034he"), frameWSPing, []byte("\x80\x03llo")),
		cat([]byte{0x81, 126, 0x01, 0x2c}, bytes.Repeat([]byte{'a'}, 300)),
		cat([]byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0x01, 0}, bytes.Repeat([]byte{'b'}, 256)),
		[]byte("\x81\x81abcdX"), []byte("\x80\x01a"), []byte("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x01"),
	}
	for i, s := range seeds {
		f.Add(s, uint16(i), uint16(len(s)/2))
	}
	f.Fuzz(func(t *testing.T, data []byte, a, b uint16) {
		const limit = 1 << 12
		i, j := int(a)%(len(data)+1), int(b)%(len(data)+1)
		if i > j {
			i, j = j, i
		}
		r1, out1, err1 := feedAll(limit, data)
		r2, out2, err2 := feedAll(limit, data[:i], data[i:j], data[j:])
		if fmt.Sprint(out1) != fmt.Sprint(out2) || fmt.Sprint(err1) != fmt.Sprint(err2) {
			t.Fatalf("whole: %v %v; split at %d, %d: %v %v", out1, err1, i, j, out2, err2)
		}
		if err1 == nil && (!bytes.Equal(r1.pend, r2.pend) || !bytes.Equal(r1.msg, r2.msg) || r1.pending() > len(data)) {
			t.Fatalf("kept %q %q whole, %q %q split", r1.pend, r1.msg, r2.pend, r2.msg)
		}
		for _, g := range out1 {
			if int64(len(g.payload)) > limit {
				t.Fatalf("message of %d bytes over the limit", len(g.payload))
			}
		}
	})
}
