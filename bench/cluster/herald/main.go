// Command herald-cluster-node is one Herald node of the Redis cluster
// benchmark (bench/cluster): Socket.IO at /socket.io/ with the library's
// defaults and the classic Redis adapter (adapter/redis), and
//
//	event "bcast"  its arguments are broadcast as "tick" to every other
//	               socket of "/" in the cluster (socket.broadcast.emit)
//
// the same behaviour as node/server.js (socket.io 4.8 with
// @socket.io/redis-adapter 8.3).
//
//	go run ./bench/cluster/herald --addr 127.0.0.1:0 --redis 127.0.0.1:6379 --key bench
//
// It prints "pid N" and then "ready ADDR" on stdout once its adapter is
// subscribed and it listens, and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	redisadapter "github.com/heraldio/herald/adapter/redis"
	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	key := flag.String("key", "socket.io", "channel prefix of the adapter")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	rdb := redis.NewClient(&redis.Options{Addr: *redisAddr})
	// No per-address connection limit and no packet rate limit: the load
	// generator holds thousands of connections from one address, and
	// Node's server has neither limit.
	io := socketio.NewServer(&socketio.Options{
		Engine:     &engineio.Options{Logger: logger, MaxConnectionsPerIP: -1},
		PacketRate: &socketio.PacketRate{PerSecond: -1},
		Adapter:    redisadapter.New(rdb, &redisadapter.Options{Key: *key, Logger: logger}),
		Logger:     logger,
	})
	io.OnConnection(func(s *socketio.Socket) {
		s.On("bcast", func(s *socketio.Socket, args socketio.Args, _ socketio.Ack) {
			_ = s.Broadcast().Emit("tick", args)
		})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := io.Of("/").Adapter().(*redisadapter.Adapter).WaitReady(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "redis adapter:", err)
		os.Exit(1)
	}

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && err != http.ErrServerClosed {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}()
	fmt.Printf("pid %d\nready %s\n", os.Getpid(), ln.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(ctx)
	_ = io.Close(ctx) // closes the adapters
	_ = rdb.Close()
}
