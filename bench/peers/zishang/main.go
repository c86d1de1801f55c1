// Command zishang-bench-server is the zishang520/socket.io v3 (Go port of
// socket.io) peer that "herald bench" measures Herald against, in a module of
// its own so that Herald's module does not depend on it. Same behaviour as
// bench/servers/herald and bench/peers/node: the library's defaults
// (pingInterval 25s, pingTimeout 20s, path /socket.io/), and
//
//	event "broadcast"  the arguments are broadcast as "tick" to every other
//	                   socket of "/" (socket.broadcast.emit)
//	event "echo"       acknowledged with the same arguments
//	GET /bench/stats   {"server","pid","clients","goroutines",...} as JSON
//	                   (?gc=1 collects garbage first)
//
//	go run . --addr 127.0.0.1:3000
//
// It prints "pid N" and then "ready" on stdout once it listens.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/zishang520/socket.io/servers/socket/v3"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "address to listen on")
	flag.Parse()

	io := socket.NewServer(nil, nil)
	_ = io.On("connection", func(clients ...any) {
		s := clients[0].(*socket.Socket)
		_ = s.On("broadcast", func(args ...any) {
			_ = s.Broadcast().Emit("tick", args...)
		})
		_ = s.On("echo", func(args ...any) {
			if len(args) == 0 {
				return
			}
			if ack, ok := args[len(args)-1].(socket.Ack); ok {
				ack(args[:len(args)-1], nil)
			}
		})
	})

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io.ServeHandler(nil))
	mux.HandleFunc("GET /bench/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") != "" {
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"server":     "zishang",
			"pid":        os.Getpid(),
			"clients":    io.Engine().ClientsCount(),
			"goroutines": runtime.NumGoroutine(),
			"heap_inuse": ms.HeapInuse,
			"sys":        ms.Sys,
		})
	})

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
	_ = ln.Close()
	io.Close(nil)
}
