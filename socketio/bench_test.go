package socketio_test

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/heraldio/herald/socketio"
)

// BenchmarkBroadcast measures io.Emit to every socket of a namespace over
// WebSocket. The packet is encoded once, so allocations per broadcast do
// not grow with the number of recipients beyond the recipient list.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("recipients=%d", n), func(b *testing.B) {
			io := socketio.NewServer(nil)
			joined := make(chan struct{}, n)
			io.OnConnection(func(*socketio.Socket) { joined <- struct{}{} })
			hs := httptest.NewServer(io)
			// Recipients read raw frames into a fixed buffer and count bytes,
			// so that the allocations reported are the server's.
			var received atomic.Int64
			conns := make([]net.Conn, 0, n)
			for range n {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				conn, br, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/socket.io/?EIO=4&transport=websocket")
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				if br != nil {
					received.Add(int64(br.Buffered())) // the open packet, read with the 101
					ws.PutReader(br)
				}
				if err := wsutil.WriteClientText(conn, []byte("40")); err != nil {
					b.Fatal(err)
				}
				conns = append(conns, conn)
				go func() {
					buf := make([]byte, 32<<10)
					for {
						k, err := conn.Read(buf)
						received.Add(int64(k))
						if err != nil {
							return
						}
					}
				}()
			}
			for range n {
				<-joined
			}
			// Wait for every open packet and CONNECT reply (fixed sizes: ids
			// are 20 characters).
			sid := strings.Repeat("x", 20)
			open := `0{"sid":"` + sid + `","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`
			reply := `40{"sid":"` + sid + `"}`
			base := int64(n) * int64(2+len(open)+2+len(reply))
			waitBytes(b, &received, base)
			payload := map[string]any{"text": "hello, world", "n": 42}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := io.Emit("tick", payload); err != nil {
					b.Fatal(err)
				}
			}
			frame := int64(2 + len(`42["tick",{"n":42,"text":"hello, world"}]`))
			waitBytes(b, &received, base+int64(b.N)*int64(n)*frame) // every delivery written and read
			b.StopTimer()
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "deliveries/s")
			for _, c := range conns {
				_ = c.Close()
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			_ = io.Close(ctx)
			cancel()
			hs.Close()
		})
	}
}

// waitBytes waits until the recipients have read want bytes in all.
func waitBytes(b *testing.B, received *atomic.Int64, want int64) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for received.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("received %d bytes, want %d", received.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
}
