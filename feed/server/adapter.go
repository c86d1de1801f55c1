package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/adapter/postgres"
	redisadapter "github.com/heraldio/herald/adapter/redis"
	"github.com/heraldio/herald/socketio"
)

// ErrAdapterConfig is wrapped by every error about Config.Adapter.
var ErrAdapterConfig = errors.New("adapter")

// AdapterSpec is a parsed Config.Adapter.
type AdapterSpec struct {
	// Kind is "memory", "postgres", "redis" (classic) or "redis-sharded".
	Kind string
	// RedisURL is the Redis URL for go-redis, without Herald's own
	// parameters (mode, key).
	RedisURL string
	// Key is the channel prefix of the Redis adapters ("socket.io" unless
	// the URL has key=…).
	Key string
	// Subscription is the sharded adapter's subscription mode.
	Subscription redisadapter.SubscriptionMode
}

// String describes the spec for logs, without credentials.
func (a AdapterSpec) String() string {
	if a.Kind != "redis" && a.Kind != "redis-sharded" {
		return a.Kind
	}
	u, err := url.Parse(a.RedisURL)
	if err != nil {
		return a.Kind
	}
	return a.Kind + " " + u.Host + u.Path
}

// ParseAdapter parses Config.Adapter:
//
//   - "" (or "memory"): the in-memory adapter, for a single instance;
//   - "postgres": the PostgreSQL adapter on the feed's own database, which
//     databaseURL must then name;
//   - "redis://[user:password@]host:port[/db][?mode=classic|sharded][&key=prefix][&subscription=dynamic|static|dynamic-private]"
//     (or rediss://): the Redis adapter, in the classic form (pub/sub, the
//     default) or the sharded form (SPUBLISH/SSUBSCRIBE, Redis 7), with the
//     channel prefix key (default "socket.io"). Other query parameters go to
//     go-redis (dial_timeout, …).
//
// Errors wrap ErrAdapterConfig.
func ParseAdapter(spec, databaseURL string) (AdapterSpec, error) {
	switch {
	case spec == "" || spec == "memory":
		return AdapterSpec{Kind: "memory"}, nil
	case spec == "postgres":
		if !isPostgresURL(databaseURL) {
			return AdapterSpec{}, fmt.Errorf("%w: postgres needs the feed on PostgreSQL (--database postgres://…)", ErrAdapterConfig)
		}
		return AdapterSpec{Kind: "postgres"}, nil
	case strings.HasPrefix(spec, "redis://"), strings.HasPrefix(spec, "rediss://"):
	default:
		return AdapterSpec{}, fmt.Errorf("%w: want empty (in memory), postgres, or a redis:// URL; got %q", ErrAdapterConfig, redact(spec))
	}
	u, err := url.Parse(spec)
	if err != nil {
		return AdapterSpec{}, fmt.Errorf("%w: %q is not a URL", ErrAdapterConfig, redact(spec))
	}
	q := u.Query()
	a := AdapterSpec{Kind: "redis", Key: "socket.io"}
	switch m := q.Get("mode"); m {
	case "", "classic":
	case "sharded":
		a.Kind = "redis-sharded"
	default:
		return AdapterSpec{}, fmt.Errorf("%w: redis mode %q: want classic or sharded", ErrAdapterConfig, m)
	}
	if k := q.Get("key"); k != "" {
		a.Key = k
	} else if q.Has("key") {
		return AdapterSpec{}, fmt.Errorf("%w: redis key is empty", ErrAdapterConfig)
	}
	switch s := q.Get("subscription"); s {
	case "", "dynamic":
		a.Subscription = redisadapter.Dynamic
	case "static":
		a.Subscription = redisadapter.Static
	case "dynamic-private":
		a.Subscription = redisadapter.DynamicPrivate
	default:
		return AdapterSpec{}, fmt.Errorf("%w: redis subscription %q: want dynamic, static or dynamic-private", ErrAdapterConfig, s)
	}
	if q.Has("subscription") && a.Kind != "redis-sharded" {
		return AdapterSpec{}, fmt.Errorf("%w: subscription applies to mode=sharded only", ErrAdapterConfig)
	}
	q.Del("mode")
	q.Del("key")
	q.Del("subscription")
	u.RawQuery = q.Encode()
	a.RedisURL = u.String()
	if _, err := redis.ParseURL(a.RedisURL); err != nil {
		return AdapterSpec{}, fmt.Errorf("%w: %w", ErrAdapterConfig, err)
	}
	return a, nil
}

// redact hides the password of a URL-like string.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// clusterAdapter is the running adapter: the constructor for
// socketio.Options, and what to wait on and close around it.
type clusterAdapter struct {
	spec  AdapterSpec
	make  func(nsp *socketio.Namespace) socketio.Adapter
	ready func(ctx context.Context, io *socketio.Server) error
	close func(ctx context.Context) error
}

// openAdapter connects what spec names. The memory adapter needs nothing.
// The adapters tag their own log lines with adapter=postgres, redis or
// redis-sharded.
func openAdapter(ctx context.Context, spec AdapterSpec, databaseURL string, log *slog.Logger) (*clusterAdapter, error) {
	switch spec.Kind {
	case "postgres":
		cfg, err := pgxpool.ParseConfig(databaseURL)
		if err != nil {
			return nil, fmt.Errorf("adapter: %w", err)
		}
		cfg.MaxConns = 4 // NOTIFY and the attachment table; the listener has its own connection
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("adapter: %w", err)
		}
		ps := postgres.New(pool, &postgres.Options{Logger: log})
		return &clusterAdapter{
			spec: spec,
			make: ps.Adapter,
			// The listener LISTENs, then the adapter announces itself with
			// an INITIAL_HEARTBEAT, which comes back to this listener too:
			// the first notification received proves the subscription.
			ready: func(ctx context.Context, _ *socketio.Server) error {
				return poll(ctx, func() bool { return ps.Stats().Received > 0 })
			},
			close: func(ctx context.Context) error {
				err := ps.Close(ctx)
				pool.Close()
				return err
			},
		}, nil
	case "redis", "redis-sharded":
		opts, err := redis.ParseURL(spec.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("adapter: %w", err)
		}
		rdb := redis.NewClient(opts)
		if err := rdb.Ping(ctx).Err(); err != nil {
			rdb.Close()
			return nil, fmt.Errorf("adapter: redis %s: %w", opts.Addr, err)
		}
		mk := redisadapter.New(rdb, &redisadapter.Options{Key: spec.Key, Logger: log})
		if spec.Kind == "redis-sharded" {
			mk = redisadapter.NewSharded(rdb, &redisadapter.ShardedOptions{
				ChannelPrefix: spec.Key, SubscriptionMode: spec.Subscription, Logger: log,
			})
		}
		return &clusterAdapter{
			spec: spec,
			make: mk,
			ready: func(ctx context.Context, io *socketio.Server) error {
				r, ok := io.Of("/").Adapter().(interface{ WaitReady(context.Context) error })
				if !ok {
					return nil
				}
				return r.WaitReady(ctx)
			},
			close: func(context.Context) error { return rdb.Close() },
		}, nil
	default:
		return &clusterAdapter{
			spec:  spec,
			ready: func(context.Context, *socketio.Server) error { return nil },
			close: func(context.Context) error { return nil },
		}, nil
	}
}

// poll checks cond every 10 ms until it holds or ctx ends.
func poll(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
