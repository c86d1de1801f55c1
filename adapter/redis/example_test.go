package redisadapter_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/redis/go-redis/v9"

	redisadapter "github.com/heraldio/herald/adapter/redis"
	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/socketio"
)

// exampleCluster starts two servers on adapter, a client on the second,
// and returns the first server and the client's events.
func exampleCluster(adapter func() func(*socketio.Namespace) socketio.Adapter) (first *socketio.Server, events <-chan string, stop func()) {
	var servers []*socketio.Server
	var https []*httptest.Server
	for range 2 {
		io := socketio.NewServer(&socketio.Options{Adapter: adapter()})
		mux := http.NewServeMux()
		mux.Handle("/socket.io/", io)
		servers = append(servers, io)
		https = append(https, httptest.NewServer(mux))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, io := range servers {
		_ = io.Of("/").Adapter().(interface{ WaitReady(context.Context) error }).WaitReady(ctx)
	}
	ch := make(chan string, 10)
	m := client.NewManager(https[1].URL, nil)
	s := m.Socket("/", nil)
	s.On("news", func(args socketio.Args, _ socketio.Ack) { ch <- args.String() })
	_ = s.Connect(ctx)
	return servers[0], ch, func() {
		_ = m.Close()
		for i, io := range servers {
			_ = io.Close(context.Background())
			https[i].Close()
		}
	}
}

// Two servers on the classic Redis adapter: a broadcast on the first
// reaches a client of the second.
func ExampleNew() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	opts := &redisadapter.Options{Key: "example-classic"}
	first, events, stop := exampleCluster(func() func(*socketio.Namespace) socketio.Adapter {
		return redisadapter.New(rdb, opts)
	})
	defer stop()
	_ = first.Emit("news", "hello from the first server")
	fmt.Println(<-events)
	// Output: ["hello from the first server"]
}

// Two servers on the sharded Redis adapter (Redis 7).
func ExampleNewSharded() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	opts := &redisadapter.ShardedOptions{ChannelPrefix: "example-sharded", SubscriptionMode: redisadapter.Dynamic}
	first, events, stop := exampleCluster(func() func(*socketio.Namespace) socketio.Adapter {
		return redisadapter.NewSharded(rdb, opts)
	})
	defer stop()
	_ = first.Emit("news", 42)
	fmt.Println(<-events)
	// Output: [42]
}
