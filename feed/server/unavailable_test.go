package server_test

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"

	"github.com/heraldio/herald/feed/pgtest"
	"github.com/heraldio/herald/feed/server"
)

// tcpProxy forwards connections to a target until stopped, so that a test
// can take a real database away.
type tcpProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newProxy(t *testing.T, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, d)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(d, c); d.Close() }()
			go func() { defer p.wg.Done(); io.Copy(c, d); c.Close() }()
		}
	}()
	t.Cleanup(p.stop)
	return p
}

// stop closes the listener and every connection, and waits for the copiers.
func (p *tcpProxy) stop() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestDatabaseAway takes PostgreSQL away under a running service: /healthz
// says 503 and API requests get 503 with the contract's error body.
func TestDatabaseAway(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	q := u.Query()
	q.Set("connect_timeout", "5")
	u.RawQuery = q.Encode()
	e := start(t, "sqlite", func(c *server.Config) { c.DatabaseURL = u.String() })
	token, _ := e.signup("away@example.com", "Away")
	e.createPost(token, "Before the outage")
	if r := e.do("GET", "/healthz", "", nil); r.status != 200 {
		t.Fatalf("healthz before: %d", r.status)
	}

	proxy.stop()
	for range 2 { // broken pooled connections first, then refused new ones
		if r := e.do("GET", "/healthz", "", nil); r.status != 503 {
			t.Errorf("healthz with the database away: %d %s", r.status, r.body)
		}
		expect(t, e.do("GET", "/feed/posts", token, nil), 503, "Service unavailable, please try again.")
		expect(t, e.do("POST", "/auth/login", "", map[string]string{"email": "away@example.com", "password": "secret1"}), 503, "Service unavailable, please try again.")
	}
	if files := e.imageFiles(); len(files) != 1 {
		t.Errorf("image files: %v", files)
	}
	r := e.do("POST", "/feed/post", token, newForm("title", "During the outage", "content", "Lost content").file("image", "a.png", pngImage).done())
	expect(t, r, 503, "Service unavailable, please try again.")
	if files := e.imageFiles(); len(files) != 1 {
		t.Errorf("the refused upload left a file: %v", files)
	}
}
