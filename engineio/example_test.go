package engineio_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/heraldio/herald/engineio"
)

// upper answers every text message with the same text in upper case.
type upper struct{}

func (upper) OnOpen(*engineio.Session) {}

func (upper) OnMessage(s *engineio.Session, data []byte, binary bool) {
	if !binary {
		_ = s.SendText([]byte(strings.ToUpper(string(data))))
	}
}

func (upper) OnClose(*engineio.Session, engineio.Reason, error) {}

// A server speaks to any Engine.IO client; here, raw polling requests show
// the wire format of protocol 4.
func ExampleNewServer() {
	srv := engineio.NewServer(upper{}, &engineio.Options{PingInterval: 10 * time.Second})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	// Close waits for polling clients to collect their close packet; this
	// example's client is gone, so give it little time.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	defer srv.Close(ctx)

	res, _ := http.Get(ts.URL + "/engine.io/?EIO=4&transport=polling")
	open, _ := io.ReadAll(res.Body)
	res.Body.Close()
	sid := strings.Split(string(open), `"`)[3]

	url := ts.URL + "/engine.io/?EIO=4&transport=polling&sid=" + sid
	res, _ = http.Post(url, "text/plain", strings.NewReader("4hello\x1e4world"))
	res.Body.Close()
	res, _ = http.Get(url)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Printf("%q\n", body)
	// Output: "4HELLO\x1e4WORLD"
}
