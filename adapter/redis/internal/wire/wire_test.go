package wire

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/heraldio/herald/socketio"
)

// seeds returns the messages Node published (../../testdata), as fuzz seeds.
func seeds(f *testing.F) {
	b, err := os.ReadFile("../../testdata/node_golden.json")
	if err != nil {
		f.Fatal(err)
	}
	var list []struct{ Hex string }
	if err := json.Unmarshal(b, &list); err != nil {
		f.Fatal(err)
	}
	for _, g := range list {
		raw, _ := hex.DecodeString(g.Hex)
		f.Add(raw)
	}
	f.Add([]byte{0x93, 0xc0, 0x80, 0x80})
	f.Add([]byte(`{"type":7}`))
}

// FuzzDecodeBroadcast checks that no input panics and that every decoded
// broadcast re-encodes into a message that decodes to the same packet.
func FuzzDecodeBroadcast(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeBroadcast(b)
		if err != nil {
			return
		}
		again, err := AppendBroadcast(nil, m.UID, m.Packet, m.Opts, NodeFlags(m.Opts.Flags, m.Timeout), AdapterOrder)
		if err != nil {
			return // data that is not a valid JSON array of arguments
		}
		m2, err := DecodeBroadcast(again)
		if err != nil {
			t.Fatalf("re-encoded broadcast does not decode: %v", err)
		}
		if m2.UID != m.UID || m2.Packet.Namespace != m.Packet.Namespace || len(m2.Packet.Attachments) != len(m.Packet.Attachments) ||
			distinct(m2.Opts.Rooms) != distinct(m.Opts.Rooms) || m2.Opts.Flags != m.Opts.Flags {
			t.Fatalf("round trip changed the message: %+v -> %+v", m, m2)
		}
	})
}

// distinct counts the rooms of a list, which is a set (Node's adapter
// makes a Set of it): re-encoding may drop a repeated room.
func distinct[R comparable](rooms []R) int {
	seen := make(map[R]bool, len(rooms))
	for _, r := range rooms {
		seen[r] = true
	}
	return len(seen)
}

// FuzzDecodeMessage checks that no request or response panics the decoder.
func FuzzDecodeMessage(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			return
		}
		if m.Opts != nil {
			m.Opts.Options()
		}
		if len(m.Packet) > 0 {
			_, _ = ToPacket(m.Packet, m.Attachments)
		}
	})
}

func TestAppendInt(t *testing.T) {
	cases := map[int64]string{
		0: "00", 127: "7f", 128: "cc80", 255: "ccff", 256: "cd0100", 65536: "ce00010000",
		1 << 32: "cf0000000100000000", -1: "ff", -32: "e0", -33: "d0df", -129: "d1ff7f", -32769: "d2ffff7fff",
	}
	for v, want := range cases {
		if got := hex.EncodeToString(AppendInt(nil, v)); got != want {
			t.Errorf("AppendInt(%d) = %s, want %s", v, got, want)
		}
	}
}

func TestRooms(t *testing.T) {
	var r Rooms
	if err := json.Unmarshal([]byte(`["a",42,-1.5,null,true]`), &r); err != nil {
		t.Fatal(err)
	}
	if len(r) != 3 || r[0] != "a" || r[1] != "42" || r[2] != "-1.5" {
		t.Fatalf("rooms %q", r)
	}
}

// TestExactKeys checks that keys match as JavaScript reads them, exactly:
// notepack and JSON.parse make objects whose "tYpe" is not "type".
func TestExactKeys(t *testing.T) {
	// [48, {tYpe: 2, dAtA: [48, 48], "000": <bin 000>}] (found by FuzzDecodeBroadcast)
	if _, err := DecodeBroadcast([]byte("\x930\x83\xa4tYpe\x02\xa4dAtA\x9200\xa30000\xc4\x03000")); err == nil {
		t.Error("a packet whose keys differ in case from type and data was accepted")
	}
	m, err := DecodeMessage([]byte(`{"TYPE":7,"requestId":"r","RequestId":"x","opts":{"Rooms":["a"],"rooms":["b"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != nil || m.RequestID != "r" || m.Opts == nil || len(m.Opts.Rooms) != 1 || m.Opts.Rooms[0] != "b" {
		t.Fatalf("decoded %+v opts %+v", m, m.Opts)
	}
	var p WirePacket
	if err := json.Unmarshal([]byte(`{"type":2,"type":5,"Data":[1],"nsp":"/x"}`), &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != 5 || p.Data != nil || p.Nsp == nil || *p.Nsp != "/x" {
		t.Fatalf("decoded %+v", p)
	}
}

// TestPacketAttachments: a packet keeps only the bin values its data holds,
// renumbered in order (found by FuzzDecodeBroadcast: a bin value outside
// the packet made a binary event of a text one).
func TestPacketAttachments(t *testing.T) {
	// [48, {type: 2, data: [48, 48, 48], "000": <bin 000>}]
	m, err := DecodeBroadcast([]byte("\x930\x83\xa4type\x02\xa4data\x93000\xa30000\xc4\x03000"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Packet.Type != socketio.PacketEvent || len(m.Packet.Attachments) != 0 || string(m.Packet.Data) != "[48,48,48]" {
		t.Fatalf("packet %+v", m.Packet)
	}
	// A message whose first bin is elsewhere and whose data holds the second.
	raw := json.RawMessage(`{"type":2,"data":["ev",{"_placeholder":true,"num":1}]}`)
	p, err := ToPacket(raw, [][]byte{[]byte("other"), []byte("mine")})
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != socketio.PacketBinaryEvent || len(p.Attachments) != 1 || string(p.Attachments[0]) != "mine" ||
		string(p.Data) != `["ev",{"_placeholder":true,"num":0}]` {
		t.Fatalf("packet %+v data %s", p, p.Data)
	}
	if _, err := ToPacket(json.RawMessage(`{"type":2,"data":[{"_placeholder":true,"num":5}]}`), [][]byte{[]byte("x")}); err == nil {
		t.Fatal("a placeholder past the attachments was accepted")
	}
}
