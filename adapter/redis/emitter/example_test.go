package emitter_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/redis/go-redis/v9"

	redisadapter "github.com/heraldio/herald/adapter/redis"
	"github.com/heraldio/herald/adapter/redis/emitter"
	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/socketio"
)

// A process that is not a Socket.IO server emits to a room of a cluster
// on the classic Redis adapter.
func Example() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A server of the cluster, with a client in room "news".
	io := socketio.NewServer(&socketio.Options{Adapter: redisadapter.New(rdb, &redisadapter.Options{Key: "example-emitter"})})
	io.OnConnection(func(s *socketio.Socket) { _ = s.Join("news") })
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer io.Close(context.Background())
	_ = io.Of("/").Adapter().(*redisadapter.Adapter).WaitReady(ctx)
	got := make(chan string, 1)
	m := client.NewManager(hs.URL, nil)
	defer m.Close()
	s := m.Socket("/", nil)
	s.On("headline", func(args socketio.Args, _ socketio.Ack) { got <- args.String() })
	_ = s.Connect(ctx)

	em := emitter.New(rdb, &emitter.Options{Key: "example-emitter"})
	_ = em.To("news").Emit(ctx, "headline", "from a worker", []byte{1})
	fmt.Println(<-got)
	// Output: ["from a worker",{"_placeholder":true,"num":0}]
}
