package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func TestEncodeGolden(t *testing.T) {
	cases := []struct {
		name string
		p    Packet
		want string
	}{
		{"connect", Packet{Type: PacketConnect, ID: NoAck}, "0"},
		{"connect nsp", Packet{Type: PacketConnect, Namespace: "/admin", ID: NoAck, Data: json.RawMessage(`{"sid":"x"}`)}, `0/admin,{"sid":"x"}`},
		{"disconnect", Packet{Type: PacketDisconnect, Namespace: "/", ID: NoAck}, "1"},
		{"event", Packet{Type: PacketEvent, ID: NoAck, Data: json.RawMessage(`["hello",1]`)}, `2["hello",1]`},
		{"event ack", Packet{Type: PacketEvent, Namespace: "/admin", ID: 456, Data: json.RawMessage(`["x"]`)}, `2/admin,456["x"]`},
		{"ack", Packet{Type: PacketAck, ID: 456, Data: json.RawMessage(`[1,"2"]`)}, `3456[1,"2"]`},
		{"connect error", Packet{Type: PacketConnectError, Namespace: "/random", ID: NoAck, Data: json.RawMessage(`{"message":"Invalid namespace"}`)}, `4/random,{"message":"Invalid namespace"}`},
		{"binary event", Packet{Type: PacketBinaryEvent, ID: NoAck, Data: json.RawMessage(`["m",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{1}}}, `51-["m",{"_placeholder":true,"num":0}]`},
		{"binary ack", Packet{Type: PacketBinaryAck, Namespace: "/a", ID: 7, Data: json.RawMessage(`[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`), Attachments: [][]byte{{1}, {2}}}, `62-/a,7[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := string(AppendText(nil, &c.p)); got != c.want {
				t.Fatalf("encode = %q, want %q", got, c.want)
			}
			p, err := Decode([]byte(c.want))
			if err != nil {
				t.Fatal(err)
			}
			ns := c.p.Namespace
			if ns == "" {
				ns = "/"
			}
			if p.Type != c.p.Type || p.Namespace != ns || p.ID != c.p.ID || !bytes.Equal(p.Data, c.p.Data) || len(p.Attachments) != len(c.p.Attachments) {
				t.Fatalf("decode = %+v", p)
			}
		})
	}
}

func TestDecodeAccepts(t *testing.T) {
	for in, want := range map[string]Packet{
		"0/custom":                             {Type: PacketConnect, Namespace: "/custom", ID: NoAck},
		"0/custom,":                            {Type: PacketConnect, Namespace: "/custom", ID: NoAck},
		`0{"token":"123"}`:                     {Type: PacketConnect, Namespace: "/", ID: NoAck, Data: json.RawMessage(`{"token":"123"}`)},
		"0/admin?token=x,":                     {Type: PacketConnect, Namespace: "/admin?token=x", ID: NoAck},
		`42["message",1,"2",{"3":[true]}]`[1:]: {Type: PacketEvent, Namespace: "/", ID: NoAck, Data: json.RawMessage(`["message",1,"2",{"3":[true]}]`)},
		`2[1]`:                                 {Type: PacketEvent, Namespace: "/", ID: NoAck, Data: json.RawMessage(`[1]`)},
	} {
		p, err := Decode([]byte(in))
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if p.Type != want.Type || p.Namespace != want.Namespace || p.ID != want.ID || !bytes.Equal(p.Data, want.Data) {
			t.Errorf("%q = %+v, want %+v", in, p, want)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, in := range []string{
		"", "abc", "7", "2{}", `2"x"`, "2[]", `2["connect"]`, `2["disconnecting",1]`, "2abc[\"m\"]",
		`2[1,`, `0"x"`, `0[]`, `1{}`, "4", `4[1]`, `3[1]`, "5-[\"m\"]", "50-[\"m\"]", "511-[\"m\"]",
		"5x-[\"m\"]", `2/a,1234567890123456["x"]`, `2[{}]`,
	} {
		if _, err := Decode([]byte(in)); !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("Decode(%q) = %v, want ErrInvalidPacket", in, err)
		}
	}
}

func TestAppendArgs(t *testing.T) {
	type inner struct {
		Blob []byte `json:"blob"`
		Name string `json:"name,omitempty"`
	}
	type outer struct {
		inner
		List  []any          `json:"list"`
		Skip  string         `json:"-"`
		M     map[string]any `json:"m"`
		Plain int
	}
	cases := []struct {
		name string
		args []any
		want string
		atts [][]byte
	}{
		{"scalars", []any{1, "2", true, nil, 1.5}, `["ev",1,"2",true,null,1.5]`, nil},
		{"html not escaped", []any{"<a&b>"}, `["ev","<a&b>"]`, nil},
		{"raw", []any{json.RawMessage(`{"3":[true]}`)}, `["ev",{"3":[true]}]`, nil},
		{"top-level bytes", []any{[]byte{1, 2, 3}, []byte{4}}, `["ev",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, [][]byte{{1, 2, 3}, {4}}},
		{"nested bytes", []any{outer{inner: inner{Blob: []byte{9}}, List: []any{[]byte{8}, "x"}, M: map[string]any{"b": []byte{7}, "a": 1}, Plain: 2}},
			`["ev",{"blob":{"_placeholder":true,"num":0},"list":[{"_placeholder":true,"num":1},"x"],"m":{"a":1,"b":{"_placeholder":true,"num":2}},"Plain":2}]`,
			[][]byte{{9}, {8}, {7}}},
		{"map without bytes", []any{map[string]int{"b": 2, "a": 1}}, `["ev",{"a":1,"b":2}]`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var atts [][]byte
			got, err := appendArgs(nil, "ev", c.args, &atts)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
			if len(atts) != len(c.atts) {
				t.Fatalf("attachments = %v, want %v", atts, c.atts)
			}
			for i := range atts {
				if !bytes.Equal(atts[i], c.atts[i]) {
					t.Fatalf("attachment %d = %v, want %v", i, atts[i], c.atts[i])
				}
			}
		})
	}
}

func TestArgsDecodeAndResend(t *testing.T) {
	p, err := Decode([]byte(`52-["m",{"a":{"num":1,"_placeholder":true}},{"_placeholder":true,"num":0},3]`))
	if err != nil {
		t.Fatal(err)
	}
	p.Attachments[0], p.Attachments[1] = []byte{1, 2}, []byte{3}
	_, args, err := splitEvent(p)
	if err != nil {
		t.Fatal(err)
	}
	var first struct {
		A []byte `json:"a"`
	}
	if err := args.Decode(0, &first); err != nil || !bytes.Equal(first.A, []byte{3}) {
		t.Fatalf("nested placeholder (keys reversed) = %v, %v", first.A, err)
	}
	if b, ok := args.Bytes(1); !ok || !bytes.Equal(b, []byte{1, 2}) {
		t.Fatalf("Bytes(1) = %v, %v", b, ok)
	}
	if n, err := Arg[int](args, 2); err != nil || n != 3 {
		t.Fatalf("Arg[int] = %v, %v", n, err)
	}
	if _, err := Arg[int](args, 3); !errors.Is(err, ErrMissingArg) {
		t.Fatalf("missing arg err = %v", err)
	}
	// Re-sent after another binary argument, placeholders are renumbered.
	var atts [][]byte
	out, err := appendArgs(nil, "back", []any{[]byte{0}, args}, &atts)
	if err != nil {
		t.Fatal(err)
	}
	want := `["back",{"_placeholder":true,"num":0},{"a":{"_placeholder":true,"num":2}},{"_placeholder":true,"num":1},3]`
	if string(out) != want || len(atts) != 3 || !bytes.Equal(atts[2], []byte{3}) {
		t.Fatalf("resend = %s %v", out, atts)
	}
}
