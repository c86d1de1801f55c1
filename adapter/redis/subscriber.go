package redisadapter

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// subscriber owns one subscription connection: it receives messages,
// health-checks a silent connection, and after an error waits with
// exponential backoff before the next receive, which makes go-redis dial
// again and re-send every recorded subscription.
type subscriber struct {
	client   redis.UniversalClient
	log      *slog.Logger
	interval time.Duration
	// subscribeAll records every subscription on ps (I/O is attempted, and
	// go-redis keeps the subscriptions even when it fails).
	subscribeAll func(ctx context.Context, ps *redis.PubSub) error
	// readyKey is the channel (or pattern) subscribed last: its
	// confirmation means every subscription is in place.
	readyKey string
	onMsg    func(*redis.Message)
	// onSub, when set, sees every subscription confirmation.
	onSub func(kind, channel string)
	// onReady, when set, runs once everything is subscribed, and again
	// after each restoration.
	onReady func()

	ready   chan struct{}
	closing chan struct{}

	psMu sync.Mutex
	ps   *redis.PubSub

	received, errs, reconnects *atomic.Uint64
	down                       atomic.Bool
	everReady                  bool
}

func (s *subscriber) pubsub() *redis.PubSub {
	s.psMu.Lock()
	defer s.psMu.Unlock()
	return s.ps
}

// run is the subscriber goroutine; it returns once closing is closed.
func (s *subscriber) run(ctx context.Context) {
	if err := s.subscribeAll(ctx, s.pubsub()); err != nil {
		s.lost(err)
	}
	backoff := minBackoff
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	silent := 0
	for {
		ps := s.pubsub()
		msg, err := ps.ReceiveTimeout(ctx, s.interval)
		select {
		case <-s.closing:
			return
		default:
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				silent++
				if silent < 2 {
					_ = ps.Ping(ctx)
					continue
				}
				// The ping went unanswered: start over on a new connection.
				s.lost(errors.New("health check ping unanswered"))
				s.psMu.Lock()
				_ = s.ps.Close()
				s.ps = s.client.Subscribe(ctx)
				ps = s.ps
				s.psMu.Unlock()
				_ = s.subscribeAll(ctx, ps)
				silent = 0
				continue
			}
			s.lost(err)
			if timer == nil {
				timer = time.NewTimer(backoff)
			} else {
				timer.Reset(backoff)
			}
			select {
			case <-timer.C:
			case <-s.closing:
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		silent = 0
		backoff = minBackoff
		switch m := msg.(type) {
		case *redis.Subscription:
			if s.onSub != nil {
				s.onSub(m.Kind, m.Channel)
			}
			if m.Channel != s.readyKey || (m.Kind != "subscribe" && m.Kind != "psubscribe" && m.Kind != "ssubscribe") {
				continue
			}
			if !s.everReady {
				s.everReady = true
				close(s.ready)
			}
			if s.down.Swap(false) {
				s.reconnects.Add(1)
				s.log.Info("redis adapter: subscriptions restored")
			}
			if s.onReady != nil {
				s.onReady()
			}
		case *redis.Message:
			s.received.Add(1)
			s.onMsg(m)
		}
	}
}

func (s *subscriber) lost(err error) {
	select {
	case <-s.closing:
		return
	default:
	}
	s.errs.Add(1)
	if !s.down.Swap(true) {
		s.log.Warn("redis adapter: subscription connection lost; reconnecting with backoff; messages from other servers are missed until it is back", "err", err)
	}
}

// close closes the connection, which ends a pending receive.
func (s *subscriber) close() {
	s.psMu.Lock()
	_ = s.ps.Close()
	s.psMu.Unlock()
}
