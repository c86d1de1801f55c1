// Command herald-bench-server is the Herald Socket.IO server that
// "herald bench" measures, with the same behaviour as the peers in
// bench/peers/node (socket.io 4.8) and bench/peers/zishang
// (zishang520/socket.io v3): Socket.IO mounted at /socket.io/ with the
// library's defaults (Node's: pingInterval 25s, pingTimeout 20s), and
//
//	event "broadcast"  the sender's arguments are broadcast as event "tick" to
//	                   every other socket of "/" (socket.broadcast.emit)
//	event "echo"       acknowledged with the same arguments
//	GET /bench/stats   {"server","pid","clients","goroutines",...} as JSON
//	                   (?gc=1 collects garbage first)
//	/debug/pprof/...   net/http/pprof, for profiling (Herald only)
//
//	go run ./bench/servers/herald --addr 127.0.0.1:3000
//
// It prints "pid N" and then "ready" on stdout once it listens, and stops on
// SIGINT or SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

// Stats is the body of GET /bench/stats. The fields up to Goroutines are
// the ones every bench server reports; the rest are Go runtime figures.
type Stats struct {
	Server      string `json:"server"`
	PID         int    `json:"pid"`
	Clients     int    `json:"clients"`
	Goroutines  int    `json:"goroutines"`
	HeapInuse   uint64 `json:"heap_inuse"`
	HeapAlloc   uint64 `json:"heap_alloc"`
	HeapObjects uint64 `json:"heap_objects"`
	StackInuse  uint64 `json:"stack_inuse"`
	Sys         uint64 `json:"sys"`
	NumGC       uint32 `json:"num_gc"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "address to listen on")
	memProfileRate := flag.Int("memprofilerate", 0, "set runtime.MemProfileRate (for heap profiles, not for measurements)")
	debug := flag.Bool("debug", false, "log at debug level")
	flag.Parse()
	if *memProfileRate > 0 {
		runtime.MemProfileRate = *memProfileRate
	}
	level := slog.LevelWarn
	if *debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	// No per-address connection limit and no packet rate limit: the load
	// generator holds thousands of connections per source address and echo
	// clients send as fast as they are answered, and Node's server has
	// neither limit.
	io := socketio.NewServer(&socketio.Options{
		Engine:     &engineio.Options{Logger: logger, MaxConnectionsPerIP: -1},
		PacketRate: &socketio.PacketRate{PerSecond: -1},
		Logger:     logger,
	})
	io.OnConnection(func(s *socketio.Socket) {
		s.On("broadcast", func(s *socketio.Socket, args socketio.Args, _ socketio.Ack) {
			_ = s.Broadcast().Emit("tick", args)
		})
		s.On("echo", func(_ *socketio.Socket, args socketio.Args, ack socketio.Ack) {
			if ack != nil {
				_ = ack(args)
			}
		})
	})

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io)
	mux.HandleFunc("GET /bench/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") != "" {
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Stats{
			Server:      "herald",
			PID:         os.Getpid(),
			Clients:     io.Engine().Count(),
			Goroutines:  runtime.NumGoroutine(),
			HeapInuse:   ms.HeapInuse,
			HeapAlloc:   ms.HeapAlloc,
			HeapObjects: ms.HeapObjects,
			StackInuse:  ms.StackInuse,
			Sys:         ms.Sys,
			NumGC:       ms.NumGC,
		})
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)

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
	fmt.Printf("pid %d\nready\n", os.Getpid())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(ctx)
	_ = io.Close(ctx)
}
