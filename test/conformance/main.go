// Command conformance serves the applications that the official Engine.IO
// and Socket.IO conformance suites (socketio/engine.io-protocol, branches
// main and v3; socketio/socket.io-protocol) expect on localhost:3000: an
// Engine.IO echo server at /engine.io/ that speaks protocols 4 and 3, and
// at /socket.io/ a Socket.IO server with the namespaces "/" and "/custom"
// that emits "auth" with the CONNECT payload, answers "message" with
// "message-back" and acknowledges "message-with-ack" with its arguments.
//
//	go run ./test/conformance --addr localhost:3000
//
// The suite's socket.io part drops a frame when two arrive in one TCP read
// (protocol-notes §2.6); --auth-delay (default 20ms) spaces the "auth"
// event from the CONNECT reply, as the Node reference needs too.
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
	"github.com/heraldio/herald/socketio"
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

// newSocketIO returns the Socket.IO application of the suite.
func newSocketIO(authDelay time.Duration) *socketio.Server {
	// Upstream's reference uses connectTimeout 1000, but the heartbeat tests
	// keep a session without namespace for three ping cycles (over 900 ms),
	// which a loaded machine stretches past 1 s. The "no handshake" test is
	// settled by the ping timeout (500 ms) anyway.
	io := socketio.NewServer(&socketio.Options{Engine: suiteOptions(), ConnectTimeout: 3 * time.Second})
	onConnect := func(s *socketio.Socket) {
		auth := s.Handshake().Auth
		emitAuth := func() { _ = s.Emit("auth", auth) }
		if authDelay > 0 {
			time.AfterFunc(authDelay, emitAuth)
		} else {
			emitAuth()
		}
		s.On("message", func(s *socketio.Socket, args socketio.Args, _ socketio.Ack) {
			_ = s.Emit("message-back", args)
		})
		s.On("message-with-ack", func(_ *socketio.Socket, args socketio.Args, ack socketio.Ack) {
			if ack != nil {
				_ = ack(args)
			}
		})
	}
	io.OnConnection(onConnect)
	io.Of("/custom").OnConnection(onConnect)
	return io
}

// newHandler returns the conformance application.
func newHandler(authDelay time.Duration) (http.Handler, func(context.Context) error) {
	eio := engineio.NewServer(echo{}, suiteOptions())
	sio := newSocketIO(authDelay)
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", eio)
	mux.Handle("/socket.io/", sio)
	return mux, func(ctx context.Context) error {
		return errors.Join(sio.Close(ctx), eio.Close(ctx))
	}
}

func main() {
	addr := flag.String("addr", "localhost:3000", "address to listen on")
	authDelay := flag.Duration("auth-delay", 20*time.Millisecond, "delay before the \"auth\" event (0: none)")
	flag.Parse()
	if err := run(*addr, *authDelay); err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}

func run(addr string, authDelay time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	h, closeApp := newHandler(authDelay)
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
