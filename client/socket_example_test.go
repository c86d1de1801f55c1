package client_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/socketio"
)

// exampleServer starts a Socket.IO server that greets each socket and adds
// numbers on request.
func exampleServer() (*socketio.Server, *httptest.Server) {
	srv := socketio.NewServer(nil)
	for _, nsp := range []string{"/", "/chat"} {
		srv.Of(nsp).OnConnection(func(s *socketio.Socket) {
			s.On("add", func(_ *socketio.Socket, args socketio.Args, ack socketio.Ack) {
				x, _ := socketio.Arg[int](args, 0)
				y, _ := socketio.Arg[int](args, 1)
				_ = ack(x + y)
			})
			_ = s.Emit("welcome", "hello from "+nsp)
		})
	}
	return srv, httptest.NewServer(srv)
}

func ExampleManager() {
	srv, ts := exampleServer()
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer srv.Close(ctx)

	m := client.NewManager(ts.URL, &client.ManagerOptions{
		Engine: client.EngineOptions{Transports: []string{"websocket"}},
	})
	defer func() {
		m.Close()
		<-m.Done()
	}()
	// Two namespaces share one connection. Handlers are registered before
	// connecting, so the greetings sent on connection are not missed.
	welcome := make(chan string, 2)
	for _, nsp := range []string{"/", "/chat"} {
		m.Socket(nsp, nil).On("welcome", func(args socketio.Args, _ socketio.Ack) {
			msg, _ := socketio.Arg[string](args, 0)
			welcome <- msg
		})
	}
	for _, nsp := range []string{"/", "/chat"} {
		if err := m.Socket(nsp, nil).Connect(ctx); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(<-welcome)
	}
	sum, err := m.Socket("/chat", nil).EmitWithAck(ctx, "add", 1, 2)
	fmt.Println(sum, err)
	// Output:
	// hello from /
	// hello from /chat
	// [3] <nil>
}

func ExampleDial() {
	srv, ts := exampleServer()
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer srv.Close(ctx)

	s, err := client.Dial(ctx, ts.URL+"/chat", &client.DialOptions{
		Manager: client.ManagerOptions{Engine: client.EngineOptions{Transports: []string{"websocket"}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() {
		s.Manager().Close()
		<-s.Manager().Done()
	}()
	sum, err := s.Timeout(time.Second).EmitWithAck(ctx, "add", 20, 22)
	if err != nil {
		fmt.Println(err)
		return
	}
	n, _ := socketio.Arg[int](sum, 0)
	fmt.Println(s.Namespace(), n)
	// Output:
	// /chat 42
}
