package client

import (
	"testing"
	"time"
)

// TestBackoff checks the JavaScript client's Backoff arithmetic
// (socket.io-client, contrib/backo2): delay * 2^attempt, moved down when
// floor(r*10) is even and up when odd by floor(r*jitter*ms), capped.
func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		name    string
		attempt int
		jitter  float64
		r       float64
		want    time.Duration
	}{
		{"first", 0, 0, 0.7, time.Second},
		{"second", 1, 0, 0.7, 2 * time.Second},
		{"third", 2, 0, 0.7, 4 * time.Second},
		{"capped", 3, 0, 0.7, 5 * time.Second},
		{"huge attempt stays capped", 5000, 0, 0.7, 5 * time.Second},
		{"jitter down (floor(r*10)=2)", 0, 0.5, 0.25, 875 * time.Millisecond},
		{"jitter up (floor(r*10)=1)", 0, 0.5, 0.1, 1050 * time.Millisecond},
		{"jitter up on the third", 2, 0.5, 0.3, 4600 * time.Millisecond},
		{"jitter then cap", 3, 0.5, 0.2, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := backoff(tc.attempt, time.Second, 5*time.Second, tc.jitter, tc.r); got != tc.want {
				t.Fatalf("backoff = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestManagerOptionsDefaults checks the documented zero-value defaults and
// that the caller's options are copied.
func TestManagerOptionsDefaults(t *testing.T) {
	var nilOpts *ManagerOptions
	o := nilOpts.withDefaults()
	if o.Path != "/socket.io/" || o.ReconnectionDelay != time.Second || o.ReconnectionDelayMax != 5*time.Second ||
		o.RandomizationFactor != 0.5 || o.Timeout != 20*time.Second || o.DisableReconnection || o.ReconnectionAttempts != 0 {
		t.Fatalf("defaults: %+v", o)
	}
	in := &ManagerOptions{RandomizationFactor: -1, Engine: EngineOptions{Transports: []string{"websocket"}}}
	o = in.withDefaults()
	in.Engine.Transports[0] = "polling"
	if o.RandomizationFactor != 0 || o.Engine.Transports[0] != "websocket" {
		t.Fatalf("negative factor or copy: %+v", o)
	}
}
