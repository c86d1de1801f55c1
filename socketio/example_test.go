package socketio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

// A chat server: clients join a room from their auth payload, and what one
// says reaches the others in the room; the sender gets an acknowledgement.
func ExampleNewServer() {
	io := socketio.NewServer(nil)
	io.Use(func(_ context.Context, s *socketio.Socket) error {
		var auth struct {
			Room string `json:"room"`
		}
		if err := json.Unmarshal(s.Handshake().Auth, &auth); err != nil || auth.Room == "" {
			return &socketio.ConnectError{Message: "room required", Data: map[string]int{"code": 400}}
		}
		s.SetData(auth.Room)
		return nil
	})
	io.OnConnection(func(s *socketio.Socket) {
		s.Join(socketio.Room(s.Data().(string)))
		socketio.On(s, "say", func(s *socketio.Socket, text string, ack socketio.Ack) {
			_ = s.To(socketio.Room(s.Data().(string))).Emit("said", text)
			if ack != nil {
				_ = ack("delivered")
			}
		})
	})
	ts := httptest.NewServer(io)
	defer ts.Close()
	defer io.Close(context.Background())

	// Two raw clients in room "go"; the second speaks, the first hears.
	heard := make(chan string, 1)
	listen := func(data []byte, _ bool) {
		if s := string(data); len(s) > 1 && s[:2] == "2[" {
			heard <- s
		}
	}
	acked := make(chan string, 1)
	speak := func(data []byte, _ bool) {
		if s := string(data); len(s) > 0 && s[0] == '3' {
			acked <- s
		}
	}
	ready := make(chan struct{}, 2)
	dial := func(onMessage func([]byte, bool)) *client.EngineConn {
		c, err := client.DialEngine(context.Background(), ts.URL+"/socket.io/", &client.EngineOptions{
			Transports: []string{engineio.TransportWebSocket},
			OnMessage: func(data []byte, binary bool) {
				if len(data) > 0 && data[0] == '0' {
					ready <- struct{}{}
				}
				onMessage(data, binary)
			},
		})
		if err != nil {
			panic(err)
		}
		_ = c.SendText([]byte(`0{"room":"go"}`))
		<-ready
		return c
	}
	a, b := dial(listen), dial(speak)
	defer a.Close()
	defer b.Close()
	_ = b.SendText([]byte(`21["say","hello"]`))
	fmt.Println(<-heard)
	fmt.Println(<-acked)
	// Output:
	// 2["said","hello"]
	// 31["delivered"]
}
