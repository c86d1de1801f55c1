package socketio

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func mpDecode(t testing.TB, b []byte) (*Packet, error) {
	t.Helper()
	return MsgpackParser.NewDecoder().Add(b, true)
}

// Golden bytes observed from socket.io-msgpack-parser 3.0.2 (reference §5.2).
func TestMsgpackGolden(t *testing.T) {
	// {type:0,nsp:"/",data:{sid:"abc"}}
	connect := "83a474797065" + "00" + "a36e7370a12f" + "a464617461" + "81a3736964a3616263"
	p, err := mpDecode(t, mustHex(t, connect))
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != PacketConnect || p.Namespace != "/" || string(p.Data) != `{"sid":"abc"}` || p.ID != NoAck {
		t.Fatalf("decoded %+v", p)
	}
	out := MsgpackParser.Encode(p)
	if len(out) != 1 || !out[0].Binary() || hex.EncodeToString(out[0].Data()) != connect {
		t.Fatalf("encoded %x, want %s", out[0].Data(), connect)
	}
	// An event with a Buffer: binary inline, and an ack id.
	ev := &Packet{Type: PacketBinaryEvent, Namespace: "/", ID: 7,
		Data: json.RawMessage(`["hi",{"_placeholder":true,"num":0},1.5,-3,null,true]`), Attachments: [][]byte{{1, 2}}}
	enc := MsgpackParser.Encode(ev)[0].Data()
	want := "84" + "a474797065" + "02" + "a36e7370a12f" + "a464617461" + "96" + "a26869" + "c4020102" +
		"cb3ff8000000000000" + "fd" + "c0" + "c3" + "a26964" + "07"
	if hex.EncodeToString(enc) != want {
		t.Fatalf("event = %x\nwant    %s", enc, want)
	}
	back, err := mpDecode(t, enc)
	if err != nil {
		t.Fatal(err)
	}
	name, args, err := back.Event()
	if err != nil || name != "hi" || back.ID != 7 {
		t.Fatalf("event back: %q %v %v", name, back.ID, err)
	}
	if b, ok := args.Bytes(0); !ok || !bytes.Equal(b, []byte{1, 2}) {
		t.Fatalf("binary arg = %v %v", b, ok)
	}
	if f, _ := Arg[float64](args, 1); f != 1.5 {
		t.Fatalf("float arg %v", f)
	}
}

func TestMsgpackUndefined(t *testing.T) {
	// {type:2,nsp:"/",data:["e",undefined,{a:undefined,b:1}],id:undefined}
	in := "84" + "a474797065" + "02" + "a36e7370a12f" + "a464617461" + "93" + "a165" + "d40000" +
		"82" + "a161" + "d40000" + "a162" + "01" + "a26964" + "d40000"
	p, err := mpDecode(t, mustHex(t, in))
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Data) != `["e",null,{"b":1}]` || p.ID != NoAck {
		t.Fatalf("decoded %s id %d", p.Data, p.ID)
	}
}

func TestMsgpackRejects(t *testing.T) {
	for name, h := range map[string]string{
		"not a map":       "93010203",
		"no nsp":          "81a474797065" + "02",
		"bad type":        "82a474797065" + "07" + "a36e7370a12f",
		"event no array":  "83a474797065" + "02" + "a36e7370a12f" + "a464617461" + "80",
		"truncated":       "83a474797065" + "02" + "a36e7370a12f" + "a464617461" + "92a165",
		"huge array":      "83a474797065" + "02" + "a36e7370a12f" + "a464617461" + "ddffffffff",
		"disconnect data": "83a474797065" + "01" + "a36e7370a12f" + "a464617461" + "90",
		"trailing":        "82a474797065" + "01" + "a36e7370a12f" + "00",
	} {
		if _, err := mpDecode(t, mustHex(t, h)); !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, err := MsgpackParser.NewDecoder().Add([]byte("2[]"), false); err == nil {
		t.Error("text message accepted")
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzMsgpackDecode checks that no input panics and that a decoded packet
// encodes back to one that decodes the same.
func FuzzMsgpackDecode(f *testing.F) {
	f.Add([]byte("\x83\xa4type\x00\xa3nsp\xa1/\xa4data\x81\xa3sid\xa3abc"))
	f.Add([]byte("\x84\xa4type\x02\xa3nsp\xa1/\xa4data\x93\xa1e\xd4\x00\x00\xc4\x01\x01\xa2id\x07"))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := MsgpackParser.NewDecoder().Add(in, true)
		if err != nil {
			if !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("error %v does not wrap ErrInvalidPacket", err)
			}
			return
		}
		out := MsgpackParser.Encode(p)[0].Data()
		q, err := MsgpackParser.NewDecoder().Add(out, true)
		if err != nil {
			t.Fatalf("re-encoded %x: %v", out, err)
		}
		// Invalid UTF-8 comes back as U+FFFD, escaped or not: compare values.
		var pv, qv any
		_ = json.Unmarshal(p.Data, &pv)
		_ = json.Unmarshal(q.Data, &qv)
		if q.Type != p.Type || q.Namespace != p.Namespace || q.ID != p.ID || !reflect.DeepEqual(pv, qv) || len(q.Attachments) != len(p.Attachments) {
			t.Fatalf("round trip %+v -> %+v", p, q)
		}
	})
}

func TestAppendReadMsgpack(t *testing.T) {
	data := []byte(`["hello",{"_placeholder":true,"num":0},{"a":1.5,"b":[true,null]}]`)
	atts := [][]byte{{1, 2, 3}}
	b, err := AppendMsgpack([]byte{0xff}, data, atts)
	if err != nil {
		t.Fatal(err)
	}
	want := "ff93a568656c6c6fc403010203" + "82a161cb3ff8000000000000a16292c3c0"
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("AppendMsgpack = %s, want %s", got, want)
	}
	js, gotAtts, rest, err := ReadMsgpack(append(b[1:], 0x01))
	if err != nil {
		t.Fatal(err)
	}
	if string(js) != string(data) || len(gotAtts) != 1 || !bytes.Equal(gotAtts[0], atts[0]) || !bytes.Equal(rest, []byte{0x01}) {
		t.Fatalf("ReadMsgpack = %s %v rest %x", js, gotAtts, rest)
	}
	if _, _, _, err := ReadMsgpack([]byte{0x92, 0x01}); err == nil {
		t.Fatal("truncated array: no error")
	}
}
