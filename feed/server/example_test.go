package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/heraldio/herald/feed/server"
)

// Start the whole service in-process on an httptest server, with SQLite in
// a temporary folder, and sign a user up.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)
	s, err := server.New(context.Background(), server.Config{
		DataDir:    dir,
		JWTSecret:  "example secret, use a long random one",
		BcryptCost: 4,
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close(context.Background())
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	req, _ := http.NewRequest("PUT", ts.URL+"/auth/signup",
		strings.NewReader(`{"email":"ada@example.com","password":"secret","name":"Ada"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	res.Body.Close()
	fmt.Println(res.Status)
	// Output: 201 Created
}

// Parse the values of herald serve --adapter.
func ExampleParseAdapter() {
	for _, spec := range []string{"", "postgres", "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0?mode=sharded&key=feed"} {
		a, err := server.ParseAdapter(spec, "postgres://feed@db:5432/feed")
		fmt.Printf("%q: %s, key %q, %v\n", spec, a, a.Key, err)
	}
	_, err := server.ParseAdapter("postgres", "")
	fmt.Println(err)
	// Output:
	// "": memory, key "", <nil>
	// "postgres": postgres, key "", <nil>
	// "redis://127.0.0.1:6379/0": redis 127.0.0.1:6379/0, key "socket.io", <nil>
	// "redis://127.0.0.1:6379/0?mode=sharded&key=feed": redis-sharded 127.0.0.1:6379/0, key "feed", <nil>
	// adapter: postgres needs the feed on PostgreSQL (--database postgres://…)
}
