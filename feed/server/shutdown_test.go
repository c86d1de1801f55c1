package server_test

import (
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/feed/server"
	"github.com/heraldio/herald/socketio"
	"golang.org/x/crypto/bcrypt"
)

// signalWriter closes a channel when a log line contains a string.
type signalWriter struct {
	mu   sync.Mutex
	want string
	seen chan struct{}
	done bool
}

func (w *signalWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done && strings.Contains(string(b), w.want) {
		w.done = true
		close(w.seen)
	}
	return len(b), nil
}

// TestGracefulShutdown cancels Serve while an upload is in flight and a
// Socket.IO client is connected: the upload completes with 201, the client
// is disconnected, Serve returns nil and the store is closed.
func TestGracefulShutdown(t *testing.T) {
	sw := &signalWriter{want: "shutting down", seen: make(chan struct{})}
	s, err := server.New(context.Background(), server.Config{DataDir: t.TempDir(), JWTSecret: testSecret,
		BcryptCost: bcrypt.MinCost, Logger: slog.New(slog.NewTextHandler(sw, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	e := &env{t: t, url: "http://" + ln.Addr().String(), srv: s, client: &http.Client{Timeout: 30 * time.Second}}
	token, _ := e.signup("bye@example.com", "Bye")

	serverReason := make(chan string, 1)
	s.SocketIO().OnConnection(func(so *socketio.Socket) {
		so.OnDisconnect(func(_ *socketio.Socket, r string) { serverReason <- r })
	})
	dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer dcancel()
	sock, err := client.Dial(dctx, e.url+"/", &client.DialOptions{Manager: client.ManagerOptions{
		// WebSocket from the start: a session caught mid-upgrade is closed
		// only when the shutdown times out (an engine matter, see report).
		Engine: client.EngineOptions{Transports: []string{"websocket"}}, DisableReconnection: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Manager().Close()
	reason := make(chan string, 1)
	sock.OnDisconnect(func(r string) { reason <- r })

	// An upload whose body arrives in two halves. With Expect: 100-continue
	// the transport reads the body only once the handler has asked for it,
	// so when the first write returns, the request is in the handler.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	req, _ := http.NewRequest("POST", e.url+"/feed/post", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Expect", "100-continue")
	result := make(chan int, 1)
	go func() {
		res, err := e.client.Do(req)
		if err != nil {
			t.Errorf("in-flight upload: %v", err)
			result <- 0
			return
		}
		res.Body.Close()
		result <- res.StatusCode
	}()
	if err := mw.WriteField("title", "Written during shutdown"); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-sw.seen:
	case <-time.After(10 * time.Second):
		t.Fatal("no shutdown log line")
	}
	mw.WriteField("content", "The request was in flight")
	fw, _ := mw.CreateFormFile("image", "a.png")
	fw.Write(pngImage)
	mw.Close()
	pw.Close()

	select {
	case code := <-result:
		if code != 201 {
			t.Errorf("in-flight upload answered %d, want 201", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("in-flight upload not answered")
	}
	select {
	case r := <-serverReason:
		if r != "server shutting down" {
			t.Errorf("server-side disconnect reason %q, want %q", r, "server shutting down")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("socket not disconnected on the server side")
	}
	select {
	case r := <-reason:
		// As with Node's io.close(), the client sees its transport close.
		if r != "transport close" {
			t.Errorf("client disconnect reason %q, want %q", r, "transport close")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("client not disconnected")
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return")
	}
	pctx, pcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer pcancel()
	if err := s.Store().Ping(pctx); err == nil {
		t.Error("the store still answers after shutdown")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second); err == nil {
		t.Error("still accepting connections after shutdown")
	}
}
