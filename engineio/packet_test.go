package engineio_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/heraldio/herald/engineio"
)

func collect(t testing.TB, decode func([]byte, func(engineio.Packet) error) error, in []byte) ([]engineio.Packet, error) {
	t.Helper()
	var out []engineio.Packet
	err := decode(in, func(p engineio.Packet) error {
		p.Data = append([]byte(nil), p.Data...)
		out = append(out, p)
		return nil
	})
	return out, err
}

func text(t engineio.PacketType, s string) engineio.Packet {
	return engineio.Packet{Type: t, Data: []byte(s)}
}

func bin(b ...byte) engineio.Packet {
	return engineio.Packet{Type: engineio.PacketMessage, Binary: true, Data: b}
}

func equalPackets(a, b []engineio.Packet) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || a[i].Binary != b[i].Binary || !bytes.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

func TestPayloadV4Golden(t *testing.T) {
	cases := []struct {
		name    string
		packets []engineio.Packet
		wire    string
	}{
		{"one text", []engineio.Packet{text(engineio.PacketMessage, "hello")}, "4hello"},
		{"several", []engineio.Packet{text(4, "test1"), text(4, "test2"), text(4, "test3")}, "4test1\x1e4test2\x1e4test3"},
		{"text and binary", []engineio.Packet{text(4, "hello"), bin(1, 2, 3, 4)}, "4hello\x1ebAQIDBA=="},
		{"ping", []engineio.Packet{text(engineio.PacketPing, "")}, "2"},
		{"probe", []engineio.Packet{text(engineio.PacketPing, "probe")}, "2probe"},
		{"close and noop", []engineio.Packet{text(engineio.PacketClose, ""), text(engineio.PacketNoop, "")}, "1\x1e6"},
		{"empty message", []engineio.Packet{text(4, "")}, "4"},
		{"empty binary", []engineio.Packet{bin()}, "b"},
		{"utf-8", []engineio.Packet{text(4, "€😀")}, "4€😀"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b []byte
			for _, p := range c.packets {
				b = engineio.AppendPayloadRecordV4(b, p)
			}
			if string(b) != c.wire {
				t.Fatalf("encode = %q, want %q", b, c.wire)
			}
			got, err := collect(t, engineio.DecodePayloadV4, []byte(c.wire))
			if err != nil {
				t.Fatal(err)
			}
			if c.name == "empty binary" {
				c.packets[0].Data = []byte{}
			}
			if !equalPackets(got, c.packets) {
				t.Fatalf("decode = %+v, want %+v", got, c.packets)
			}
		})
	}
}

func TestPayloadV3Golden(t *testing.T) {
	cases := []struct {
		name    string
		packets []engineio.Packet
		wire    string
	}{
		{"one text", []engineio.Packet{text(4, "hello")}, "6:4hello"},
		{"several", []engineio.Packet{text(4, "test1"), text(4, "test2"), text(4, "test3")}, "6:4test16:4test26:4test3"},
		{"base64 binary", []engineio.Packet{text(4, "hello"), bin(1, 2, 3, 4)}, "6:4hello10:b4AQIDBA=="},
		{"ping pong", []engineio.Packet{text(engineio.PacketPing, ""), text(engineio.PacketPong, "probe")}, "1:26:3probe"},
		// Lengths count UTF-16 code units: € is one unit, 😀 two.
		{"euro", []engineio.Packet{text(4, "€")}, "2:4€"},
		{"emoji", []engineio.Packet{text(4, "😀")}, "3:4😀"},
		{"mixed", []engineio.Packet{text(4, "a😀€"), text(4, "b")}, "5:4a😀€2:4b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b []byte
			for _, p := range c.packets {
				b = engineio.AppendPayloadRecordV3(b, p)
			}
			if string(b) != c.wire {
				t.Fatalf("encode = %q, want %q", b, c.wire)
			}
			got, err := collect(t, engineio.DecodePayloadV3, []byte(c.wire))
			if err != nil {
				t.Fatal(err)
			}
			if !equalPackets(got, c.packets) {
				t.Fatalf("decode = %+v, want %+v", got, c.packets)
			}
		})
	}
}

func TestPayloadV3Empty(t *testing.T) {
	got, err := collect(t, engineio.DecodePayloadV3, []byte("0:"))
	if err != nil || len(got) != 0 {
		t.Fatalf("0: = %v, %v; want no packets", got, err)
	}
}

func TestBinaryPayloadV3Golden(t *testing.T) {
	packets := []engineio.Packet{text(4, "hello"), bin(1, 2, 3, 4)}
	want := []byte{0, 6, 255, 52, 104, 101, 108, 108, 111, 1, 5, 255, 4, 1, 2, 3, 4}
	var b []byte
	for _, p := range packets {
		b = engineio.AppendBinaryRecordV3(b, p)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("encode = %v, want %v", b, want)
	}
	got, err := collect(t, engineio.DecodeBinaryPayloadV3, want)
	if err != nil {
		t.Fatal(err)
	}
	if !equalPackets(got, packets) {
		t.Fatalf("decode = %+v, want %+v", got, packets)
	}
	// A 12-byte string packet: the length is written as the digits 1, 2.
	long := engineio.AppendBinaryRecordV3(nil, text(4, "hello world"))
	if !bytes.Equal(long[:4], []byte{0, 1, 2, 255}) {
		t.Fatalf("two-digit length = %v", long[:4])
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name   string
		decode func([]byte, func(engineio.Packet) error) error
		in     string
	}{
		{"v4 empty", engineio.DecodePayloadV4, ""},
		{"v4 bad type", engineio.DecodePayloadV4, "abc"},
		{"v4 empty record", engineio.DecodePayloadV4, "4a\x1e"},
		{"v4 type 7", engineio.DecodePayloadV4, "7"},
		{"v4 bad base64", engineio.DecodePayloadV4, "b!!!"},
		{"v3 empty", engineio.DecodePayloadV3, ""},
		{"v3 no colon", engineio.DecodePayloadV3, "abc"},
		{"v3 short", engineio.DecodePayloadV3, "9:4hello"},
		{"v3 non-digit length", engineio.DecodePayloadV3, "x:4"},
		{"v3 negative", engineio.DecodePayloadV3, "-1:4"},
		{"v3 huge length", engineio.DecodePayloadV3, "99999999999:4"},
		{"v3 split surrogate", engineio.DecodePayloadV3, "2:4😀"},
		{"v3 bad type", engineio.DecodePayloadV3, "1:9"},
		{"v3 bad b64 type", engineio.DecodePayloadV3, "3:b9A"},
		{"v3 binary empty", engineio.DecodeBinaryPayloadV3, ""},
		{"v3 binary bad kind", engineio.DecodeBinaryPayloadV3, "\x02\x01\xff4"},
		{"v3 binary no length", engineio.DecodeBinaryPayloadV3, "\x00\xff4"},
		{"v3 binary too long", engineio.DecodeBinaryPayloadV3, "\x00\x09\xff4"},
		{"v3 binary bad digit", engineio.DecodeBinaryPayloadV3, "\x00\x0a\xff4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := collect(t, c.decode, []byte(c.in))
			if !errors.Is(err, engineio.ErrInvalidPacket) {
				t.Fatalf("err = %v, want ErrInvalidPacket", err)
			}
		})
	}
}

func TestDecodeFrames(t *testing.T) {
	p, err := engineio.DecodeBinaryFrame([]byte{1, 2, 3}, false)
	if err != nil || !p.Binary || p.Type != engineio.PacketMessage || !bytes.Equal(p.Data, []byte{1, 2, 3}) {
		t.Fatalf("v4 binary frame = %+v, %v", p, err)
	}
	p, err = engineio.DecodeBinaryFrame([]byte{4, 1, 2, 3}, true)
	if err != nil || !p.Binary || p.Type != engineio.PacketMessage || !bytes.Equal(p.Data, []byte{1, 2, 3}) {
		t.Fatalf("v3 binary frame = %+v, %v", p, err)
	}
	if _, err := engineio.DecodeBinaryFrame(nil, true); err == nil {
		t.Fatal("empty v3 binary frame accepted")
	}
	if _, err := engineio.DecodeText(nil); err == nil {
		t.Fatal("empty text accepted")
	}
	if got := engineio.AppendText(nil, engineio.PacketPong, []byte("probe")); string(got) != "3probe" {
		t.Fatalf("AppendText = %q", got)
	}
}

func TestUTF16Len(t *testing.T) {
	for in, want := range map[string]int{"": 0, "abc": 3, "€": 1, "😀": 2, "a😀€": 4, "\xff": 1} {
		if got := engineio.UTF16Len([]byte(in)); got != want {
			t.Errorf("UTF16Len(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestDecodeTextFrame(t *testing.T) {
	p, err := engineio.DecodeTextFrame([]byte("bAQI="), false)
	if err != nil || !p.Binary || p.Type != engineio.PacketMessage || !bytes.Equal(p.Data, []byte{1, 2}) {
		t.Fatalf("v4 base64 frame = %+v, %v", p, err)
	}
	p, err = engineio.DecodeTextFrame([]byte("b4AQI="), true)
	if err != nil || !p.Binary || p.Type != engineio.PacketMessage || !bytes.Equal(p.Data, []byte{1, 2}) {
		t.Fatalf("v3 base64 frame = %+v, %v", p, err)
	}
	for _, bad := range []string{"b!", "b", "b9AA==", "bx"} {
		if _, err := engineio.DecodeTextFrame([]byte(bad), true); err == nil {
			t.Errorf("v3 %q accepted", bad)
		}
	}
	if p, err := engineio.DecodeTextFrame([]byte("4hi"), true); err != nil || string(p.Data) != "hi" {
		t.Fatalf("text frame = %+v, %v", p, err)
	}
}
