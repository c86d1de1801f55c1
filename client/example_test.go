package client_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/engineio"
)

// echo is an Engine.IO application that sends every message back.
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

func ExampleDialEngine() {
	srv := engineio.NewServer(echo{}, nil)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer srv.Close(ctx)

	got := make(chan string, 1)
	c, err := client.DialEngine(ctx, ts.URL+"/engine.io/", &client.EngineOptions{
		OnMessage: func(data []byte, binary bool) { got <- string(data) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.SendText([]byte("hello")); err != nil {
		fmt.Println(err)
	}
	fmt.Println(<-got)
	c.Close()
	<-c.Done()
	fmt.Println(client.CloseReason(c.Err()))
	// Output:
	// hello
	// forced close
}
