package interop_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/heraldio/herald/socketio"
)

// TestMsgpack drives socket.io-client 4.8 with socket.io-msgpack-parser
// against a server using socketio.MsgpackParser: events, binary values
// nested in objects and acks, both ways, in every transport mode.
func TestMsgpack(t *testing.T) {
	requireNode(t, "socket.io-client", "socket.io-msgpack-parser")
	for _, mode := range eioModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			answers := make(chan string, 1)
			io := socketio.NewServer(&socketio.Options{Parser: socketio.MsgpackParser})
			io.Use(func(_ context.Context, s *socketio.Socket) error {
				var auth struct{ Token string }
				if json.Unmarshal(s.Handshake().Auth, &auth) != nil || auth.Token != "mp" {
					return &socketio.ConnectError{Message: "bad token"}
				}
				return nil
			})
			io.OnConnection(func(s *socketio.Socket) {
				s.On("echo", func(s *socketio.Socket, args socketio.Args, ack socketio.Ack) {
					var in struct {
						N    float64 `json:"n"`
						List []any   `json:"list"`
						Bin  []byte  `json:"bin"`
					}
					neg, _ := socketio.Arg[int](args, 1)
					if err := args.Decode(0, &in); err != nil {
						t.Errorf("decode: %v", err)
					}
					_ = ack(map[string]any{"n": in.N, "list": in.List, "bin": in.Bin, "neg": neg})
				})
				s.On("go", func(s *socketio.Socket, _ socketio.Args, _ socketio.Ack) {
					reply, err := s.Timeout(5*time.Second).EmitWithAck(context.Background(), "question",
						map[string]any{"text": "é?", "blob": []byte{0xca, 0xfe}})
					if err != nil {
						t.Errorf("EmitWithAck: %v", err)
						return
					}
					var r struct {
						Answer []byte `json:"answer"`
					}
					if err := reply.Decode(0, &r); err != nil {
						t.Errorf("ack decode: %v", err)
					}
					answers <- string(r.Answer)
					_ = s.Emit("done", "ok")
				})
			})
			hs := httptest.NewServer(io)
			defer hs.Close()
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				_ = io.Close(ctx)
			}()

			run := runNode(t, 20*time.Second, "msgpack.mjs", hs.URL, mode.name)
			if run.ExitCode != 0 {
				t.Fatalf("node exited with %d", run.ExitCode)
			}
			var res struct {
				OK        bool   `json:"ok"`
				Transport string `json:"transport"`
			}
			_ = json.Unmarshal(run.Result, &res)
			if !res.OK || res.Transport != mode.final {
				t.Fatalf("result %s", run.Result)
			}
			want := map[string]string{
				"question": `{"event":"question","text":"é?","blob":"cafe"}`,
				"echo-ack": `{"event":"echo-ack","n":1.5,"list":[1,"two",null],"bin":"010203","neg":-7}`,
			}
			for _, line := range run.Lines {
				var ev struct{ Event string }
				_ = json.Unmarshal(line, &ev)
				if w, ok := want[ev.Event]; ok {
					if string(line) != w {
						t.Errorf("%s: got %s, want %s", ev.Event, line, w)
					}
					delete(want, ev.Event)
				}
			}
			if len(want) > 0 {
				t.Errorf("missing client events: %v", want)
			}
			select {
			case a := <-answers:
				if a != "\x07\x08\x09" {
					t.Errorf("ack binary = %x", a)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the client's ack never reached the server")
			}
		})
	}
}
