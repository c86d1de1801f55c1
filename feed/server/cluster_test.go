package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	redisadapter "github.com/heraldio/herald/adapter/redis"
	"github.com/heraldio/herald/feed/pgtest"
	"github.com/heraldio/herald/feed/server"
)

func TestParseAdapter(t *testing.T) {
	const pg = "postgres://postgres@127.0.0.1:5432/test"
	for _, tc := range []struct {
		name, spec, db string
		want           server.AdapterSpec
	}{
		{"empty", "", "", server.AdapterSpec{Kind: "memory"}},
		{"memory", "memory", pg, server.AdapterSpec{Kind: "memory"}},
		{"postgres", "postgres", pg, server.AdapterSpec{Kind: "postgres"}},
		{"postgresql scheme", "postgres", "postgresql://u@h/db", server.AdapterSpec{Kind: "postgres"}},
		{"redis", "redis://127.0.0.1:6379", "", server.AdapterSpec{Kind: "redis", RedisURL: "redis://127.0.0.1:6379", Key: "socket.io"}},
		{"redis classic db key", "redis://:pw@r:6380/2?mode=classic&key=app", "",
			server.AdapterSpec{Kind: "redis", RedisURL: "redis://:pw@r:6380/2", Key: "app"}},
		{"redis sharded", "redis://r:6379/0?mode=sharded&subscription=static&dial_timeout=3s", "",
			server.AdapterSpec{Kind: "redis-sharded", RedisURL: "redis://r:6379/0?dial_timeout=3s", Key: "socket.io", Subscription: redisadapter.Static}},
		{"rediss", "rediss://r:6379?mode=sharded", "", server.AdapterSpec{Kind: "redis-sharded", RedisURL: "rediss://r:6379", Key: "socket.io"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := server.ParseAdapter(tc.spec, tc.db)
			if err != nil || got != tc.want {
				t.Errorf("ParseAdapter(%q, %q) = %+v, %v; want %+v", tc.spec, tc.db, got, err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, spec, db, msg string
	}{
		{"postgres on sqlite", "postgres", "", "--database postgres://"},
		{"unknown", "nats://x", "", "want empty (in memory), postgres, or a redis:// URL"},
		{"postgres url", "postgres://u@h/db", "postgres://u@h/db", "want empty"},
		{"bad mode", "redis://r:6379?mode=cluster", "", `redis mode "cluster"`},
		{"empty key", "redis://r:6379?key=", "", "redis key is empty"},
		{"bad subscription", "redis://r:6379?mode=sharded&subscription=all", "", `subscription "all"`},
		{"subscription on classic", "redis://r:6379?subscription=static", "", "mode=sharded only"},
		{"go-redis option", "redis://r:6379?nope=1", "", "nope"},
		{"bad db", "redis://r:6379/x", "", "invalid"},
		{"password hidden", "nats://user:hunter2@x", "", "xxxxx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := server.ParseAdapter(tc.spec, tc.db)
			if !errors.Is(err, server.ErrAdapterConfig) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("ParseAdapter(%q, %q) = %v; want an ErrAdapterConfig saying %q", tc.spec, tc.db, err, tc.msg)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

func TestNewAdapterErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := server.New(ctx, server.Config{DataDir: t.TempDir(), JWTSecret: testSecret, Adapter: "postgres"})
	if !errors.Is(err, server.ErrAdapterConfig) {
		t.Errorf("New with the postgres adapter on SQLite: %v, want ErrAdapterConfig", err)
	}
	// Nothing listens on port 1: the Redis adapter fails at startup, not later.
	_, err = server.New(ctx, server.Config{DataDir: t.TempDir(), JWTSecret: testSecret,
		Adapter: "redis://127.0.0.1:1?dial_timeout=1s&max_retries=-1"})
	if err == nil || !strings.Contains(err.Error(), "redis 127.0.0.1:1") {
		t.Errorf("New with an unreachable Redis: %v, want an error naming it", err)
	}
}

// freshDatabase creates a PostgreSQL database for this test only (LISTEN/
// NOTIFY channels are per database, so two clusters must not share one)
// and returns its URL; it is dropped when the test ends.
func freshDatabase(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "heraldcluster_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, pgtest.BaseURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, pgtest.BaseURL())
		if err != nil {
			t.Errorf("connect: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	u, err := url.Parse(pgtest.BaseURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// randomKey is a Redis channel prefix of this test only.
func randomKey() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "heraldtest-" + hex.EncodeToString(b[:])
}

// TestCluster runs two services on one PostgreSQL database, sharing their
// events through each cluster adapter: a change made through A reaches the
// clients of both exactly once, in order, and both list the same posts.
func TestCluster(t *testing.T) {
	for _, tc := range []struct{ name, adapter string }{
		{"postgres", "postgres"},
		{"redis", "redis://127.0.0.1:6379/0?key=" + randomKey()},
		{"redis-sharded", "redis://127.0.0.1:6379/0?mode=sharded&key=" + randomKey()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := freshDatabase(t)
			mod := func(c *server.Config) { c.DatabaseURL = db; c.Adapter = tc.adapter }
			a := start(t, "", mod)
			b := start(t, "", mod)
			onA, onB := a.listen(4), b.listen(4)

			token, _ := a.signup("ann@example.com", "Ann")
			post := a.createPost(token, "Made on A")
			id := post["_id"].(string)
			r := a.do("PUT", "/feed/post/"+id, token, newForm("title", "Edited on A", "content", "New content", "image", "").done())
			expect(t, r, 200, "Post updated!")
			expect(t, a.do("DELETE", "/feed/post/"+id, token, nil), 200, "Deleted post.")
			// A last post closes the sequence: the adapters deliver in
			// publishing order, so a duplicate would come before it.
			last := a.createPost(token, "Last on A")["_id"].(string)

			for side, ch := range map[string]<-chan postsEvent{"A": onA, "B": onB} {
				for i, want := range []struct{ action, id, title string }{
					{"create", id, "Made on A"}, {"update", id, "Edited on A"}, {"delete", id, ""}, {"create", last, "Last on A"},
				} {
					ev := next(t, ch)
					if ev.action != want.action || ev.id != want.id || (want.title != "" && ev.post["title"] != want.title) {
						t.Errorf("client on %s, event %d: %s %s %v; want %s %s %q", side, i, ev.action, ev.id, ev.post["title"], want.action, want.id, want.title)
					}
				}
			}
			ra, rb := a.do("GET", "/feed/posts", token, nil), b.do("GET", "/feed/posts", token, nil)
			if ra.json["totalItems"] != 1.0 || rb.json["totalItems"] != 1.0 {
				t.Errorf("totalItems: %v on A, %v on B; want 1 on both", ra.json["totalItems"], rb.json["totalItems"])
			}
		})
	}
}

// TestClusterShutdown stops one of two instances: its graceful shutdown
// closes the Socket.IO server (whose adapters say goodbye: ADAPTER_CLOSE,
// or the Redis subscription closing) before the adapter's connection, so
// the other instance counts one server again well before the 10 s
// heartbeat timeout would make it forget a silent peer.
func TestClusterShutdown(t *testing.T) {
	for _, tc := range []struct{ name, adapter string }{
		{"postgres", "postgres"},
		{"redis", "redis://127.0.0.1:6379/0?key=" + randomKey()},
		{"redis-sharded", "redis://127.0.0.1:6379/0?mode=sharded&key=" + randomKey()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := freshDatabase(t)
			a := start(t, "", func(c *server.Config) { c.DatabaseURL = db; c.Adapter = tc.adapter })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			b, err := server.New(ctx, server.Config{DataDir: t.TempDir(), JWTSecret: testSecret,
				DatabaseURL: db, Adapter: tc.adapter, BcryptCost: bcrypt.MinCost,
				Logger: slog.New(slog.NewTextHandler(&testLogWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			runCtx, stop := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- b.Serve(runCtx, ln) }()

			count := func() int {
				n, _ := a.srv.SocketIO().Of("/").Adapter().ServerCount(ctx)
				return n
			}
			waitUntil(t, 20*time.Second, "A to count 2 servers", func() bool { return count() == 2 })
			stop()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("B's Serve: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("B did not stop within 30s")
			}
			waitUntil(t, 8*time.Second, "A to count 1 server after B stopped", func() bool { return count() == 1 })
		})
	}
}

// waitUntil checks cond every 10 ms and fails t after d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}
