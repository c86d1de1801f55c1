package interop_test

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/heraldio/herald/socketio"
)

// TestRecovery cuts an official client's transport while the server emits a
// stream of ticks: within the window the client comes back recovered (same
// id) with every tick exactly once and in order; past the window it gets a
// fresh session.
func TestRecovery(t *testing.T) {
	requireNode(t, "socket.io-client")
	const total = 120
	for _, scenario := range []string{"recover", "expire"} {
		for _, mode := range eioModes {
			t.Run(scenario+"/"+mode.name, func(t *testing.T) {
				t.Parallel()
				window := time.Minute
				if scenario == "expire" {
					window = 100 * time.Millisecond
				}
				io := socketio.NewServer(&socketio.Options{
					ConnectionStateRecovery: &socketio.RecoveryOptions{MaxDisconnectionDuration: window},
				})
				io.OnConnection(func(s *socketio.Socket) {
					s.On("start", func(_ *socketio.Socket, args socketio.Args, _ socketio.Ack) {
						n, _ := socketio.Arg[int](args, 0)
						go func() {
							for i := range n {
								_ = io.Emit("tick", i)
								time.Sleep(3 * time.Millisecond) // a stream, not a synchronisation
							}
						}()
					})
				})
				hs := httptest.NewServer(io)
				defer hs.Close()
				defer io.Close(t.Context())

				run := runNode(t, 30*time.Second, "recovery.mjs", hs.URL, mode.name, scenario, "120")
				var res struct {
					OK       bool `json:"ok"`
					Connects []struct {
						ID        string `json:"id"`
						Recovered bool   `json:"recovered"`
					} `json:"connects"`
					Ticks []int `json:"ticks"`
				}
				if err := json.Unmarshal(run.Result, &res); err != nil || !res.OK || run.ExitCode != 0 {
					t.Fatalf("result %s (exit %d)", run.Result, run.ExitCode)
				}
				if len(res.Connects) != 2 {
					t.Fatalf("connects %+v", res.Connects)
				}
				first, second := res.Connects[0], res.Connects[1]
				switch scenario {
				case "recover":
					if !second.Recovered || second.ID != first.ID {
						t.Fatalf("second connect %+v after %+v: want recovered with the same id", second, first)
					}
					if len(res.Ticks) != total {
						t.Fatalf("%d ticks, want %d: %v", len(res.Ticks), total, res.Ticks)
					}
					for i, n := range res.Ticks {
						if n != i {
							t.Fatalf("tick %d is %d: %v", i, n, res.Ticks)
						}
					}
				case "expire":
					if second.Recovered || second.ID == first.ID {
						t.Fatalf("second connect %+v after the window: want a fresh session", second)
					}
				}
			})
		}
	}
}
