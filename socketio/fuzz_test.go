package socketio

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode checks that no input panics, that errors wrap ErrInvalidPacket,
// and that a decoded packet (with its attachments filled) encodes back to a
// packet that decodes the same, its arguments decodable.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"0", "40/custom", `0{"token":"123"}`, "1/custom,", `2["message",1,"2",{"3":[true]}]`,
		`2456["message-with-ack",1,"2",{"3":[false]}]`, `52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
		`62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, `3456[1]`, `4/random,{"message":"Invalid namespace"}`,
		"abc", "2{}", `2abc["m"]`, "0/admin?token=x,",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := Decode(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("error %v does not wrap ErrInvalidPacket", err)
			}
			return
		}
		for i := range p.Attachments {
			p.Attachments[i] = []byte{byte(i)}
		}
		out := AppendText(nil, p)
		q, err := Decode(out)
		if err != nil {
			t.Fatalf("%q re-encoded as %q: %v", in, out, err)
		}
		if q.Type != p.Type || q.Namespace != p.Namespace || q.ID != p.ID || !bytes.Equal(q.Data, p.Data) {
			t.Fatalf("round trip %+v -> %+v", p, q)
		}
		if p.Type == PacketEvent || p.Type == PacketBinaryEvent {
			_, args, err := splitEvent(p)
			if err != nil {
				t.Fatalf("valid event does not split: %v", err)
			}
			for i := range args.Len() {
				var v any
				_ = args.Decode(i, &v) // must not panic
			}
			var atts [][]byte
			if _, err := appendArgs(nil, "x", []any{args}, &atts); err != nil {
				t.Fatalf("resend: %v", err)
			}
		}
	})
}
