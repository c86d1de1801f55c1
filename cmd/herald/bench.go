package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/heraldio/herald/internal/loadgen"
)

// runBench runs "herald bench": one scenario against one Socket.IO server,
// a table (or JSON with --json) on stdout, progress lines on stderr. With
// --worker it is instead one of the worker processes a run starts: it speaks
// the worker protocol on stdin and stdout (loadgen.ServeWorker).
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg loadgen.Config
	var asJSON, quiet, worker bool
	epoll := true
	fs.StringVar(&cfg.Scenario, "scenario", "idle", "idle, fanout, burst, echo or connect")
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:3000", "server base URL")
	fs.StringVar(&cfg.Path, "path", "/socket.io/", "Socket.IO mount point")
	fs.StringVar(&cfg.Label, "label", "", "name of the server in the output (default the URL)")
	fs.StringVar(&cfg.Transport, "transport", "websocket", "websocket or polling")
	fs.BoolVar(&epoll, "epoll", true, "websocket on Linux: each worker process receives on all its clients with one epoll poller goroutine;\n--epoll=false gives every client its own reader goroutine (package client), as polling, TLS and other systems have")
	fs.IntVar(&cfg.Clients, "clients", 1000, "number of clients")
	fs.IntVar(&cfg.Workers, "workers", 0, "worker processes holding the clients (0: this process)")
	fs.StringVar(&cfg.Source, "source", "", "source address of worker 0 (e.g. 127.0.0.10); worker i uses the i-th next")
	fs.IntVar(&cfg.Concurrency, "concurrency", 64, "connection attempts in flight per worker")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "server process id, for CPU and RSS from /proc (same machine)")
	fs.StringVar(&cfg.StatsURL, "stats", "", "server stats endpoint (default URL/bench/stats; - for none)")
	fs.Float64Var(&cfg.Rate, "rate", 2, "fanout: broadcasts per second")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "fanout and echo: how long to send")
	fs.IntVar(&cfg.Size, "size", 100, "fanout, burst and echo: payload bytes")
	fs.IntVar(&cfg.Count, "count", 10, "burst: broadcasts sent back to back")
	fs.DurationVar(&cfg.IdleHold, "hold", 0, "idle: hold the connections this long before measuring")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", 2*time.Minute, "fanout and burst: wait this long for the last deliveries")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	fs.BoolVar(&quiet, "quiet", false, "no progress lines")
	fs.BoolVar(&worker, "worker", false, "run as a worker process (started by bench itself)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: herald bench [flags]\n\nDrives Socket.IO clients against a server that speaks the bench protocol\n(bench/servers/herald, bench/peers/node, bench/peers/zishang) and measures it.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if worker {
		return loadgen.ServeWorker(ctx, os.Stdin, os.Stdout, loadgen.WorkerOptions{})
	}
	cfg.NoEpoll = !epoll
	if !quiet {
		cfg.Progress = stderr
	}
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Scenario, err)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("write json: %w", err)
		}
		return nil
	}
	return loadgen.WriteTable(stdout, []*loadgen.Result{res})
}
