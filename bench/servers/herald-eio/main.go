// Command herald-eio is the Herald Engine.IO echo server that bench/idle
// measures: every message is sent back unchanged, engineio's defaults
// otherwise (pingInterval 25s, pingTimeout 20s, mounted at /engine.io/), the
// same as the Node peer in bench/peers/node.
//
//	go run ./bench/servers/herald-eio --addr 127.0.0.1:3000
//
// It prints "pid N" and then "ready" on stdout once it listens. For the
// benchmark only, it also serves on the same address:
//
//	GET /debug/stats   runtime.NumGoroutine, sessions and runtime.MemStats figures, as JSON
//	                   (?gc=1 collects garbage first)
//	/debug/pprof/...   net/http/pprof (heap, goroutine, ...)
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
)

// echo sends every message back to its session unchanged.
type echo struct{}

func (echo) OnOpen(*engineio.Session) {}

func (echo) OnMessage(s *engineio.Session, data []byte, binary bool) {
	b := append([]byte(nil), data...)
	if binary {
		_ = s.SendBinary(b)
	} else {
		_ = s.SendText(b)
	}
}

func (echo) OnClose(*engineio.Session, engineio.Reason, error) {}

// Stats is the body of GET /debug/stats.
type Stats struct {
	Goroutines   int    `json:"goroutines"`
	Sessions     int    `json:"sessions"`
	HeapInuse    uint64 `json:"heap_inuse"`
	HeapAlloc    uint64 `json:"heap_alloc"`
	HeapObjects  uint64 `json:"heap_objects"`
	StackInuse   uint64 `json:"stack_inuse"`
	Sys          uint64 `json:"sys"`
	HeapSys      uint64 `json:"heap_sys"`
	HeapIdle     uint64 `json:"heap_idle"`
	HeapReleased uint64 `json:"heap_released"`
	StackSys     uint64 `json:"stack_sys"`
	MSpanInuse   uint64 `json:"mspan_inuse"`
	GCSys        uint64 `json:"gc_sys"`
	OtherSys     uint64 `json:"other_sys"`
	NextGC       uint64 `json:"next_gc"`
	NumGC        uint32 `json:"num_gc"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "address to listen on")
	memProfileRate := flag.Int("memprofilerate", 0, "set runtime.MemProfileRate (1 records every allocation; for heap profiles, not for measurements)")
	flag.Parse()
	if *memProfileRate > 0 {
		runtime.MemProfileRate = *memProfileRate
	}

	eio := engineio.NewServer(echo{}, &engineio.Options{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", eio)
	mux.HandleFunc("GET /debug/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") != "" {
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Stats{
			Goroutines:   runtime.NumGoroutine(),
			Sessions:     eio.Count(),
			HeapInuse:    ms.HeapInuse,
			HeapAlloc:    ms.HeapAlloc,
			HeapObjects:  ms.HeapObjects,
			StackInuse:   ms.StackInuse,
			Sys:          ms.Sys,
			HeapSys:      ms.HeapSys,
			HeapIdle:     ms.HeapIdle,
			HeapReleased: ms.HeapReleased,
			StackSys:     ms.StackSys,
			MSpanInuse:   ms.MSpanInuse,
			GCSys:        ms.GCSys,
			OtherSys:     ms.OtherSys,
			NextGC:       ms.NextGC,
			NumGC:        ms.NumGC,
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
	_ = eio.Close(ctx)
}
