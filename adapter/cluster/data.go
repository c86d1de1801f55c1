package cluster

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/heraldio/herald/socketio"
)

// The "data" members of the message types, field order as Node writes them.

type wireOpts struct {
	Rooms  roomList  `json:"rooms"`
	Except roomList  `json:"except"`
	Flags  wireFlags `json:"flags"`
}

type wireFlags struct {
	Volatile             bool  `json:"volatile,omitempty"`
	Compress             *bool `json:"compress,omitempty"`
	Local                bool  `json:"local,omitempty"`
	Timeout              int64 `json:"timeout,omitempty"`
	ExpectSingleResponse bool  `json:"expectSingleResponse,omitempty"`
}

// UnmarshalJSON accepts any JSON values for the flags, as JavaScript's
// truthiness does, and ignores unknown ones.
func (f *wireFlags) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil // a non-object: no flags
	}
	truthy := func(k string) bool {
		v, ok := m[k]
		if !ok {
			return false
		}
		switch string(v) {
		case "false", "null", "0", `""`:
			return false
		}
		return true
	}
	*f = wireFlags{Volatile: truthy("volatile"), Local: truthy("local"),
		ExpectSingleResponse: truthy("expectSingleResponse")}
	if _, ok := m["compress"]; ok {
		c := truthy("compress")
		f.Compress = &c
	}
	if v, ok := m["timeout"]; ok {
		if ms, err := strconv.ParseFloat(string(v), 64); err == nil && ms > 0 {
			f.Timeout = int64(ms)
		}
	}
	return nil
}

// roomList is a list of rooms that also accepts numbers (JavaScript room
// names may be numbers) and null.
type roomList []string

func (r roomList) MarshalJSON() ([]byte, error) {
	if r == nil {
		return []byte("[]"), nil
	}
	return marshalJSON([]string(r))
}

func (r *roomList) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		*r = nil
		return nil
	}
	out := make(roomList, 0, len(raw))
	for _, v := range raw {
		if s := jsonText(v); s != "" {
			out = append(out, s)
		}
	}
	*r = out
	return nil
}

func encodeOpts(o socketio.BroadcastOptions) wireOpts {
	w := wireOpts{Rooms: make(roomList, len(o.Rooms)), Except: make(roomList, len(o.Except))}
	for i, r := range o.Rooms {
		w.Rooms[i] = string(r)
	}
	for i, r := range o.Except {
		w.Except[i] = string(r)
	}
	w.Flags.Volatile = o.Flags.Volatile
	if o.Flags.NoCompress {
		f := false
		w.Flags.Compress = &f
	}
	return w
}

func decodeOpts(w wireOpts) socketio.BroadcastOptions {
	o := socketio.BroadcastOptions{
		Rooms:  make([]socketio.Room, len(w.Rooms)),
		Except: make([]socketio.Room, len(w.Except)),
	}
	for i, r := range w.Rooms {
		o.Rooms[i] = socketio.Room(r)
	}
	for i, r := range w.Except {
		o.Except[i] = socketio.Room(r)
	}
	o.Flags.Volatile = w.Flags.Volatile
	o.Flags.NoCompress = w.Flags.Compress != nil && !*w.Flags.Compress
	return o
}

// wirePacket is a Socket.IO packet as socket.io's BroadcastOperator builds
// it: binary stays inline, so the type is EVENT (2) or ACK (3).
type wirePacket struct {
	Type int             `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
	Nsp  string          `json:"nsp,omitempty"`
	ID   *int64          `json:"id,omitempty"`
}

type broadcastData struct {
	Packet    wirePacket `json:"packet"`
	RequestID string     `json:"requestId,omitempty"`
	Opts      wireOpts   `json:"opts"`
}

type roomsData struct {
	Opts  wireOpts `json:"opts"`
	Rooms roomList `json:"rooms"`
}

type disconnectData struct {
	Opts  wireOpts `json:"opts"`
	Close bool     `json:"close"`
}

type fetchData struct {
	Opts      wireOpts `json:"opts"`
	RequestID string   `json:"requestId"`
}

type fetchResponseData struct {
	RequestID string       `json:"requestId"`
	Sockets   []wireSocket `json:"sockets"`
}

type wireSocket struct {
	ID        string              `json:"id"`
	Handshake *socketio.Handshake `json:"handshake"`
	Rooms     roomList            `json:"rooms"`
	Data      json.RawMessage     `json:"data"`
}

type serverSideData struct {
	RequestID string          `json:"requestId,omitempty"`
	Packet    json.RawMessage `json:"packet"`
}

type responseData struct {
	RequestID   string          `json:"requestId"`
	Packet      json.RawMessage `json:"packet,omitempty"`
	ClientCount *int            `json:"clientCount,omitempty"`
}

// argsOf turns a JSON value (binary as placeholders into atts) into one
// argument; absent values give no argument, as JavaScript's undefined.
func argsOf(v json.RawMessage, atts [][]byte) (socketio.Args, error) {
	data := []byte("[]")
	if len(v) > 0 {
		data = append(append([]byte{'['}, v...), ']')
	}
	return (&socketio.Packet{Data: data, Attachments: atts}).Args()
}

// firstArg returns the first argument of args as a JSON value (nil when
// there is none) and the attachments it may refer to.
func firstArg(args socketio.Args) (json.RawMessage, [][]byte) {
	v := args.Raw(0)
	if v == nil {
		return nil, nil
	}
	if bytes.Contains(v, []byte(`"_placeholder"`)) {
		return v, args.Attachments()
	}
	return v, nil
}

// millis is d in whole milliseconds, rounded up: a deadline of Timeout(1s) taken a
// moment later still travels as 1000, as Node sends it.
func millis(d time.Duration) int64 { return max(1, (d + time.Millisecond - 1).Milliseconds()) }
