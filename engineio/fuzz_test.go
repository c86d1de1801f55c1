package engineio_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/heraldio/herald/engineio"
)

// roundTrip re-encodes decoded packets with enc and checks that decoding
// the result gives the same packets.
func roundTrip(t *testing.T, in []byte, dec func([]byte, func(engineio.Packet) error) error,
	enc func([]byte, engineio.Packet) []byte) {
	var packets []engineio.Packet
	err := dec(in, func(p engineio.Packet) error {
		if len(p.Data) > len(in) {
			t.Fatalf("packet of %d bytes from %d input bytes", len(p.Data), len(in))
		}
		p.Data = append([]byte(nil), p.Data...)
		packets = append(packets, p)
		return nil
	})
	if err != nil {
		if !errors.Is(err, engineio.ErrInvalidPacket) {
			t.Fatalf("error %v does not wrap ErrInvalidPacket", err)
		}
		return
	}
	var out []byte
	for _, p := range packets {
		out = enc(out, p)
	}
	var again []engineio.Packet
	if len(out) == 0 {
		return // "0:" in protocol 3
	}
	if err := dec(out, func(p engineio.Packet) error {
		p.Data = append([]byte(nil), p.Data...)
		again = append(again, p)
		return nil
	}); err != nil {
		t.Fatalf("re-encoded %q does not decode: %v", out, err)
	}
	if len(again) != len(packets) {
		t.Fatalf("round trip: %d packets, then %d", len(packets), len(again))
	}
	for i := range again {
		a, b := packets[i], again[i]
		if a.Type != b.Type || a.Binary != b.Binary || !bytes.Equal(a.Data, b.Data) {
			t.Fatalf("round trip packet %d: %+v became %+v", i, a, b)
		}
	}
}

func FuzzDecodePayloadV4(f *testing.F) {
	for _, s := range []string{"4hello", "4test1\x1e4test2\x1e4test3", "4hello\x1ebAQIDBA==", "2", "3probe", "1\x1e6", "b", "abc", "4€😀"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		roundTrip(t, in, engineio.DecodePayloadV4, engineio.AppendPayloadRecordV4)
	})
}

func FuzzDecodePayloadV3(f *testing.F) {
	for _, s := range []string{"6:4hello", "6:4test16:4test26:4test3", "6:4hello10:b4AQIDBA==", "1:2", "0:", "3:4😀", "2:4€", "abc", "99999:4"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		roundTrip(t, in, engineio.DecodePayloadV3, engineio.AppendPayloadRecordV3)
	})
}

func FuzzDecodeBinaryPayloadV3(f *testing.F) {
	f.Add([]byte{0, 6, 255, 52, 104, 101, 108, 108, 111, 1, 5, 255, 4, 1, 2, 3, 4})
	f.Add([]byte{0, 1, 255, 50})
	f.Fuzz(func(t *testing.T, in []byte) {
		roundTrip(t, in, engineio.DecodeBinaryPayloadV3, engineio.AppendBinaryRecordV3)
	})
}

func FuzzDecodePacket(f *testing.F) {
	for _, s := range []string{"4hello", "2probe", "5", "6", "", "9", "\x04\x01\x02"} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, binary bool) {
		var p engineio.Packet
		var err error
		if binary {
			p, err = engineio.DecodeBinaryFrame(in, true)
		} else {
			p, err = engineio.DecodeText(in)
		}
		if err != nil {
			if !errors.Is(err, engineio.ErrInvalidPacket) {
				t.Fatalf("error %v does not wrap ErrInvalidPacket", err)
			}
			return
		}
		if binary {
			if out := append([]byte{byte(p.Type)}, p.Data...); !bytes.Equal(out, in) {
				t.Fatalf("binary frame round trip %v -> %v", in, out)
			}
		} else if out := engineio.AppendText(nil, p.Type, p.Data); !bytes.Equal(out, in) {
			t.Fatalf("text round trip %q -> %q", in, out)
		}
	})
}
