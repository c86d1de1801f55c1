package socketio

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
)

// Args are the arguments of a received event or acknowledgement, still as
// JSON: nothing is decoded until a handler asks. An Args value is immutable
// and may be kept after the handler returns.
//
// Binary attachments stay attached: Decode turns each placeholder into the
// bytes it stands for, so []byte fields anywhere in the target receive them,
// and passing the Args to an emit sends the same binary again.
type Args struct {
	raw         []json.RawMessage
	attachments [][]byte
}

// Len returns the number of arguments.
func (a Args) Len() int { return len(a.raw) }

// Raw returns argument i as JSON, with binary placeholders in place. It
// returns nil when i is out of range.
func (a Args) Raw(i int) json.RawMessage {
	if i < 0 || i >= len(a.raw) {
		return nil
	}
	return a.raw[i]
}

// Attachments returns the binary attachments the placeholders refer to.
func (a Args) Attachments() [][]byte { return a.attachments }

// Decode unmarshals argument i into v, as encoding/json does, with every
// binary placeholder replaced by its bytes (a []byte target receives them;
// an interface target receives them base64-encoded, as encoding/json
// represents []byte).
func (a Args) Decode(i int, v any) error {
	if i < 0 || i >= len(a.raw) {
		return fmt.Errorf("socketio: argument %d of %d: %w", i, len(a.raw), ErrMissingArg)
	}
	raw := []byte(a.raw[i])
	if len(a.attachments) > 0 {
		var err error
		raw, err = replacePlaceholders(raw, nil, func(dst []byte, num int) ([]byte, error) {
			if num >= len(a.attachments) {
				return nil, invalid("placeholder %d of %d attachments", num, len(a.attachments))
			}
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, a.attachments[num])
			return append(dst, '"'), nil
		})
		if err != nil {
			return err
		}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("socketio: argument %d: %w", i, err)
	}
	return nil
}

// Bytes returns argument i when it is a binary attachment.
func (a Args) Bytes(i int) ([]byte, bool) {
	if i < 0 || i >= len(a.raw) {
		return nil, false
	}
	if num, ok := placeholderNum(a.raw[i]); ok && num < len(a.attachments) {
		return a.attachments[num], true
	}
	return nil, false
}

// String returns the arguments as a JSON array, for logs.
func (a Args) String() string {
	b := []byte{'['}
	for i, r := range a.raw {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r...)
	}
	return string(append(b, ']'))
}

// Arg decodes argument i of args into a new T.
func Arg[T any](args Args, i int) (T, error) {
	var v T
	err := args.Decode(i, &v)
	return v, err
}

// placeholderNum reports whether raw is exactly a binary placeholder object,
// {"_placeholder":true,"num":N} with its keys in either order.
func placeholderNum(raw []byte) (int, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '{' || len(raw) > 64 || !bytes.Contains(raw, []byte(`"_placeholder"`)) {
		return 0, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || len(m) != 2 || string(m["_placeholder"]) != "true" {
		return 0, false
	}
	n, err := strconv.Atoi(string(m["num"]))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// replacePlaceholders copies the valid JSON in src to dst, replacing each
// placeholder object with what repl appends for its number.
func replacePlaceholders(src, dst []byte, repl func(dst []byte, num int) ([]byte, error)) ([]byte, error) {
	i := 0
	for i < len(src) {
		c := src[i]
		switch c {
		case '"':
			end, _ := skipValue(src, i)
			dst = append(dst, src[i:end]...)
			i = end
			continue
		case '{':
			end, err := skipValue(src, i)
			if err != nil {
				return nil, err
			}
			if num, ok := placeholderNum(src[i:end]); ok {
				if dst, err = repl(dst, num); err != nil {
					return nil, err
				}
				i = end
				continue
			}
		}
		dst = append(dst, c)
		i++
	}
	return dst, nil
}

// On registers a handler for event that receives the event's first
// argument decoded into T. An argument that does not decode goes to the
// socket's OnError handlers and the handler is not called.
func On[T any](s *Socket, event string, fn func(s *Socket, v T, ack Ack)) {
	s.On(event, func(s *Socket, args Args, ack Ack) {
		v, err := Arg[T](args, 0)
		if err != nil {
			s.reportError(err)
			return
		}
		fn(s, v, ack)
	})
}
