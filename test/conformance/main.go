// Command conformance serves the applications that the official Engine.IO
// and Socket.IO conformance suites (socketio/engine.io-protocol, branches
// main and v3; socketio/socket.io-protocol) expect on localhost:3000:
// an Engine.IO echo server at /engine.io/ that speaks protocols 4 and 3.
//
//	go run ./test/conformance --addr localhost:3000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
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

// suiteOptions are the settings the suites check in the handshake.
func suiteOptions() *engineio.Options {
	return &engineio.Options{
		PingInterval:      300 * time.Millisecond,
		PingTimeout:       200 * time.Millisecond,
		MaxHTTPBufferSize: 1_000_000,
		CORS:              &engineio.CORSOptions{Origins: []string{"*"}},
	}
}

// newHandler returns the conformance application.
func newHandler() (http.Handler, func(context.Context) error) {
	eio := engineio.NewServer(echo{}, suiteOptions())
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", eio)
	return mux, eio.Close
}

func main() {
	addr := flag.String("addr", "localhost:3000", "address to listen on")
	flag.Parse()
	if err := run(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	h, closeApp := newHandler()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	slog.Info("conformance app listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := closeApp(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
