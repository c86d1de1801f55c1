package socketio

import (
	"testing"
)

// Socket.IO packet encode and decode hot paths, with allocations reported.

var benchPayload = map[string]any{"text": "hello, world", "n": 42}

// BenchmarkEncodeEvent encodes an emit's packet into its Engine.IO
// message, as an emit or a broadcast does once.
func BenchmarkEncodeEvent(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		p, err := newEventPacket("/", "tick", []any{benchPayload})
		if err != nil {
			b.Fatal(err)
		}
		if len(JSONParser.Encode(p)) != 1 {
			b.Fatal("attachments")
		}
	}
}

// BenchmarkEncodeEventString is an event whose argument is a string, the
// fan-out benchmark's payload.
func BenchmarkEncodeEventString(b *testing.B) {
	arg := "0:1700000000000000000:"
	for len(arg) < 100 {
		arg += "x"
	}
	b.ReportAllocs()
	for range b.N {
		p, err := newEventPacket("/", "tick", []any{arg})
		if err != nil {
			b.Fatal(err)
		}
		_ = JSONParser.Encode(p)
	}
}

// BenchmarkDecodeEvent decodes a client's event and splits its name from
// its arguments, as every received event is.
func BenchmarkDecodeEvent(b *testing.B) {
	msg := []byte(`2["chat",{"text":"hello, world","n":42}]`)
	d := JSONParser.NewDecoder()
	b.ReportAllocs()
	for range b.N {
		p, err := d.Add(msg, false)
		if err != nil || p == nil {
			b.Fatal(err)
		}
		event, args, err := splitEvent(p)
		if err != nil || event != "chat" || args.Len() != 1 {
			b.Fatal(event, err)
		}
	}
}

// BenchmarkEchoAck decodes an event with an ack id and encodes the
// acknowledgement with the same arguments: the server's part of an
// emit-with-ack round trip, without the I/O.
func BenchmarkEchoAck(b *testing.B) {
	msg := []byte(`212["echo","0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"]`)
	d := JSONParser.NewDecoder()
	b.ReportAllocs()
	for range b.N {
		p, err := d.Add(msg, false)
		if err != nil || p == nil {
			b.Fatal(err)
		}
		_, args, err := splitEvent(p)
		if err != nil {
			b.Fatal(err)
		}
		ack, err := AckPacket("/", p.ID, args)
		if err != nil {
			b.Fatal(err)
		}
		_ = JSONParser.Encode(ack)
	}
}
