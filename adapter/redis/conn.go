package redisadapter

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/adapter/redis/internal/wire"
	"github.com/heraldio/herald/socketio"
)

const maxBatch = 128

type pubItem struct {
	channel string
	payload []byte
	done    chan error // nil: fire and forget
}

// publish queues a message. When the queue is full it waits for room
// while Redis is reachable and drops the message when it is not.
func (a *Adapter) publish(channel string, payload []byte, done chan error) {
	it := pubItem{channel, payload, done}
	select {
	case a.pubq <- it:
		return
	case <-a.closing:
		a.drop(it, ErrClosed)
		return
	default:
	}
	if a.pubDown.Load() || a.sub.down.Load() {
		// Redis looks unreachable: drop rather than make the caller wait
		// for go-redis's retries to drain a full queue.
		a.drop(it, ErrUnavailable)
		return
	}
	select {
	case a.pubq <- it:
	case <-a.closing:
		a.drop(it, ErrClosed)
	}
}

func (a *Adapter) drop(it pubItem, err error) {
	a.dropped.Add(1)
	if it.done != nil {
		it.done <- err
	}
}

// publishWait queues a message and waits until it is published.
func (a *Adapter) publishWait(ctx context.Context, channel string, payload []byte) error {
	done := make(chan error, 1)
	a.publish(channel, payload, done)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// publishLoop publishes queued messages in order, pipelining whatever has
// accumulated (up to maxBatch) into one round trip.
func (a *Adapter) publishLoop() {
	defer a.wg.Done()
	batch := make([]pubItem, 0, maxBatch)
	for {
		select {
		case it := <-a.pubq:
			batch = append(batch[:0], it)
		case <-a.closing:
			a.flushOnClose(batch[:0])
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case it := <-a.pubq:
				batch = append(batch, it)
			default:
				break fill
			}
		}
		a.flush(a.ctx, batch)
	}
}

func (a *Adapter) flushOnClose(batch []pubItem) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for {
		select {
		case it := <-a.pubq:
			batch = append(batch, it)
			continue
		default:
		}
		break
	}
	if len(batch) > 0 {
		a.flush(ctx, batch)
	}
}

func (a *Adapter) flush(ctx context.Context, batch []pubItem) {
	var err error
	if len(batch) == 1 {
		err = a.client.Publish(ctx, batch[0].channel, batch[0].payload).Err()
	} else {
		pipe := a.client.Pipeline()
		for _, it := range batch {
			pipe.Publish(ctx, it.channel, it.payload)
		}
		_, err = pipe.Exec(ctx)
	}
	if err != nil {
		a.errs.Add(1)
		a.dropped.Add(uint64(len(batch)))
		if !a.pubDown.Swap(true) {
			a.log.Warn("redis adapter: publish failed; messages to other servers are dropped until redis is back", "err", err)
		}
		err = errors.Join(ErrUnavailable, err)
	} else {
		a.published.Add(uint64(len(batch)))
		if a.pubDown.Swap(false) {
			a.log.Info("redis adapter: publishing again")
		}
	}
	for _, it := range batch {
		if it.done != nil {
			it.done <- err
		}
	}
}

// workLoop runs server-side event handlers in arrival order, off the
// subscriber goroutine.
func (a *Adapter) workLoop() {
	defer a.wg.Done()
	for {
		select {
		case fn := <-a.work:
			fn()
		case <-a.closing:
			return
		}
	}
}

func (a *Adapter) onRedisMessage(m *redis.Message) {
	if m.Pattern != "" {
		a.onBroadcast(m.Channel, []byte(m.Payload))
	} else {
		a.onMessage(m.Channel, []byte(m.Payload))
	}
}

// onBroadcast handles a message on {key}#{nsp}#[room#] (§9.2).
func (a *Adapter) onBroadcast(channel string, payload []byte) {
	if !strings.HasPrefix(channel, a.channel) {
		return
	}
	room := ""
	if len(channel) > len(a.channel) {
		room = channel[len(a.channel) : len(channel)-1]
	}
	if room != "" && !a.hasRoom(socketio.Room(room)) {
		return // no local member: not worth decoding
	}
	m, err := wire.DecodeBroadcast(payload)
	if err != nil {
		a.errs.Add(1)
		a.log.Debug("redis adapter: ignoring malformed broadcast", "channel", channel, "err", err)
		return
	}
	if m.UID == a.uid || m.Packet.Namespace != a.nsp.Name() {
		return
	}
	opts := m.Opts
	opts.Flags.Local = true
	_ = a.local.Broadcast(m.Packet, opts)
}

// onMessage handles the request and response channels (§9.3).
func (a *Adapter) onMessage(channel string, payload []byte) {
	if strings.HasPrefix(channel, a.responseChannel) {
		a.onResponse(payload)
		return
	}
	if channel != a.requestChannel {
		return
	}
	m, err := wire.DecodeMessage(payload)
	if err != nil || m.Type == nil {
		a.errs.Add(1)
		a.log.Debug("redis adapter: ignoring malformed request", "err", err)
		return
	}
	if *m.Type != wire.TypeServerSideEmit {
		// Inline, so that a join, leave or disconnect takes effect before
		// the broadcasts published after it, as in Node.
		a.onRequest(m)
		return
	}
	// Server-side handlers are the application's: they run on the worker,
	// so that a slow one does not stop responses from being received.
	select {
	case a.work <- func() { a.onRequest(m) }:
	case <-a.closing:
	}
}
