package socketio

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzJSONDecoder feeds a sequence of Engine.IO messages (split at 0xFF
// bytes; a message starting with 0x00 is binary) to a connection's JSON
// decoder, which reassembles binary packets from their attachments, then
// decodes every argument of what comes out as an application would,
// placeholders included. It checks that nothing panics and that errors
// wrap ErrInvalidPacket.
func FuzzJSONDecoder(f *testing.F) {
	for _, s := range []string{
		`2["message",1]`,
		"51-[\"bin\",{\"_placeholder\":true,\"num\":0}]\xff\x00\x01\x02",
		"52-[\"bin\",{\"num\":1,\"_placeholder\":true},{\"a\":[{\"_placeholder\":true,\"num\":0}]}]\xff\x00a\xff\x00b",
		"61-3[{\"_placeholder\":true,\"num\":0}]\xff\x00z",
		"51-[\"bin\",{\"_placeholder\":true,\"num\":4294967296}]\xff\x00x",
		"51-[\"bin\",{\"_placeholder\":true,\"num\":-1}]\xff\x00x",
		"51-[\"bin\",{\"_placeholder\":true}]\xff2[\"x\"]",
		"\x00binary first",
		`2["deep",[[[[[[[[[[]]]]]]]]]]]`,
		`0/admin,{"token":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d := JSONParser.NewDecoder()
		for _, m := range bytes.Split(in, []byte{0xff}) {
			binary := len(m) > 0 && m[0] == 0
			if binary {
				m = m[1:]
			}
			p, err := d.Add(m, binary)
			if err != nil {
				if !errors.Is(err, ErrInvalidPacket) {
					t.Fatalf("error %v does not wrap ErrInvalidPacket", err)
				}
				return
			}
			if p == nil {
				continue
			}
			var args Args
			switch p.Type {
			case PacketEvent, PacketBinaryEvent:
				_, args, err = splitEvent(p)
			case PacketAck, PacketBinaryAck:
				args, err = p.Args()
			}
			if err != nil {
				continue
			}
			for i := range args.Len() {
				var v any
				_ = args.Decode(i, &v)
				var b []byte
				_ = args.Decode(i, &b)
				_, _ = args.Bytes(i)
			}
		}
	})
}
