package socketio

import (
	"github.com/heraldio/herald/engineio"
)

// Parser turns packets into Engine.IO messages and back. Client and server
// must use the same one. JSONParser (socket.io-parser, the default) and
// MsgpackParser (socket.io-msgpack-parser) are provided.
type Parser interface {
	// Encode returns the messages that carry p, in order. They are shared by
	// every recipient of a broadcast and must not be changed.
	Encode(p *Packet) []*engineio.Message
	// NewDecoder returns the decoder of one connection.
	NewDecoder() Decoder
}

// Decoder reassembles packets from one connection's messages. It is used
// by one goroutine at a time.
type Decoder interface {
	// Add takes the next message (valid only during the call) and returns
	// a packet once one is complete, or nil while more messages are due.
	// An error closes the connection (reason "parse error").
	Add(data []byte, binary bool) (*Packet, error)
}

// JSONParser is the default parser: text packets with JSON payloads,
// binary attachments as separate binary messages (socket.io-parser 4).
var JSONParser Parser = jsonParser{}

type jsonParser struct{}

func (jsonParser) Encode(p *Packet) []*engineio.Message {
	msgs := make([]*engineio.Message, 1, 1+len(p.Attachments))
	msgs[0] = engineio.NewTextMessage(AppendText(make([]byte, 0, 8+len(p.Namespace)+len(p.Data)), p))
	for _, a := range p.Attachments {
		msgs = append(msgs, engineio.NewBinaryMessage(a))
	}
	return msgs
}

func (jsonParser) NewDecoder() Decoder { return &jsonDecoder{} }

// jsonDecoder holds a binary packet while its attachments arrive.
type jsonDecoder struct {
	pending *Packet
	filled  int
}

func (d *jsonDecoder) Add(data []byte, binary bool) (*Packet, error) {
	if p := d.pending; p != nil {
		if !binary {
			return nil, invalid("text packet while %d attachments are due", len(p.Attachments)-d.filled)
		}
		p.Attachments[d.filled] = append([]byte(nil), data...)
		d.filled++
		if d.filled < len(p.Attachments) {
			return nil, nil
		}
		d.pending = nil
		return p, nil
	}
	if binary {
		return nil, invalid("unexpected binary message")
	}
	p, err := Decode(append([]byte(nil), data...))
	if err != nil {
		return nil, err
	}
	if len(p.Attachments) > 0 {
		d.pending, d.filled = p, 0
		return nil, nil
	}
	return p, nil
}
