package engineio_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/heraldio/herald/engineio"
)

// TestWriteToClientThatDoesNotRead: a sender's write goes as far as the
// socket takes; the rest is written once the client reads, in order and
// complete (the non-blocking first write and the flush that finishes it).
func TestWriteToClientThatDoesNotRead(t *testing.T) {
	ts := newServer(t, nil, &engineio.Options{MaxQueuedBytes: 64 << 20})
	c := ts.dialWS(t, "EIO=4&transport=websocket")
	mustOpen(t, c)
	s := ts.rec.nextOpen(t)
	// 16 MiB: more than loopback socket buffers hold, so the first writes
	// fill them and the rest waits for the client.
	const n, size = 256, 64 << 10
	pad := strings.Repeat("x", size)
	for i := range n {
		if err := s.SendText([]byte(fmt.Sprintf("%05d%s", i, pad))); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	for i := range n {
		got := c.readText(t)
		if want := fmt.Sprintf("4%05d", i); !strings.HasPrefix(got, want) || len(got) != 1+5+size {
			t.Fatalf("message %d: %q... (%d bytes), want %s... (%d bytes)", i, got[:min(len(got), 12)], len(got), want, 1+5+size)
		}
	}
}

// TestBroadcastMessageReachesEverySession: one Message sent to many
// sessions (a broadcast, written by the flushers after the first) reaches
// each of them, in order with what else they were sent.
func TestBroadcastMessageReachesEverySession(t *testing.T) {
	ts := newServer(t, nil, nil)
	const n = 20
	var clients []*wsClient
	var sessions []*engineio.Session
	for range n {
		c := ts.dialWS(t, "EIO=4&transport=websocket")
		mustOpen(t, c)
		clients = append(clients, c)
		sessions = append(sessions, ts.rec.nextOpen(t))
	}
	for k := range 5 {
		m := engineio.NewTextMessage([]byte(fmt.Sprintf("broadcast %d", k)))
		for _, s := range sessions {
			if err := s.Send(m); err != nil {
				t.Fatal(err)
			}
		}
		for i, s := range sessions {
			if err := s.SendText([]byte(fmt.Sprintf("own %d %d", k, i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, c := range clients {
		for k := range 5 {
			if got, want := c.readText(t), fmt.Sprintf("4broadcast %d", k); got != want {
				t.Fatalf("client %d: %q, want %q", i, got, want)
			}
			if got, want := c.readText(t), fmt.Sprintf("4own %d %d", k, i); got != want {
				t.Fatalf("client %d: %q, want %q", i, got, want)
			}
		}
	}
}
