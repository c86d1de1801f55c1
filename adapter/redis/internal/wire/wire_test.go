package wire

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
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
