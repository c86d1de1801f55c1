// Package feedfault holds fault tests of the feed service: its database
// taken away and given back under load (a private PostgreSQL instance
// stopped and started, a SQLite file locked by another connection), and a
// graceful shutdown while writes are in flight. Each test counts what the
// clients saw (acknowledged writes, 503s, time to recover) and checks that
// every acknowledged write is in the database afterwards.
package feedfault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const testSecret = "test-secret-0123456789abcdef0123456789abcdef"

var pngImage = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")

// client talks to a feed service at base.
type client struct {
	base string
	http *http.Client
}

func newClient(base string) *client {
	return &client{base: base, http: &http.Client{Timeout: 60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

// jsonCall sends a JSON request and decodes the JSON answer.
func (c *client) jsonCall(method, path string, body any) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		return res.StatusCode, nil, fmt.Errorf("decode %s %s: %w", method, path, err)
	}
	return res.StatusCode, m, nil
}

// login signs a user up and returns a token.
func (c *client) login(t testing.TB, email string) string {
	t.Helper()
	if code, m, err := c.jsonCall("PUT", "/auth/signup", map[string]string{"email": email, "password": "secret1", "name": "Load"}); err != nil || code != 201 {
		t.Fatalf("signup: %d %v %v", code, m, err)
	}
	code, m, err := c.jsonCall("POST", "/auth/login", map[string]string{"email": email, "password": "secret1"})
	if err != nil || code != 200 {
		t.Fatalf("login: %d %v %v", code, m, err)
	}
	return m["token"].(string)
}

// createPost creates a post titled title and returns the status and, for a
// 201, the new post's id. A refused connection is status -1, another
// transport error 0.
func (c *client) createPost(token, title string) (int, string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	w.WriteField("title", title)
	w.WriteField("content", "Content of "+title)
	fw, _ := w.CreateFormFile("image", "a.png")
	fw.Write(pngImage)
	w.Close()
	req, _ := http.NewRequest("POST", c.base+"/feed/post", &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := c.http.Do(req)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return -1, ""
	}
	if err != nil {
		return 0, ""
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 201 {
		if res.StatusCode == 503 && res.Header.Get("Retry-After") == "" {
			return -503, "" // a 503 without Retry-After is reported as its own kind
		}
		return res.StatusCode, ""
	}
	var m struct {
		Post struct {
			ID string `json:"_id"`
		} `json:"post"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.Post.ID == "" {
		return -201, ""
	}
	return 201, m.Post.ID
}

// load runs writers that create posts in a loop until stopped, recording
// every answer.
type load struct {
	c       *client
	token   string
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	acked   []string              // ids of posts answered 201
	counts  map[int]int           // answers by status (0: transport error)
	seq     atomic.Int64          // titles
	notify  chan struct{}         // a value after every answer, dropped when full
	slowest map[int]time.Duration // longest answer time by status
}

func startLoad(c *client, token string, writers int) *load {
	l := &load{c: c, token: token, stop: make(chan struct{}), counts: map[int]int{},
		notify: make(chan struct{}, 1), slowest: map[int]time.Duration{}}
	for range writers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				n := l.seq.Add(1)
				began := time.Now()
				code, id := c.createPost(token, fmt.Sprintf("Load post %06d", n))
				took := time.Since(began)
				l.mu.Lock()
				l.counts[code]++
				l.slowest[code] = max(l.slowest[code], took)
				if id != "" {
					l.acked = append(l.acked, id)
				}
				l.mu.Unlock()
				select {
				case l.notify <- struct{}{}:
				default:
				}
			}
		}()
	}
	return l
}

// snapshot returns a copy of the counts and the number of acked posts.
func (l *load) snapshot() (map[int]int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := make(map[int]int, len(l.counts))
	for k, v := range l.counts {
		m[k] = v
	}
	return m, len(l.acked)
}

// waitFor waits until cond holds on the counts, or fails after limit.
func (l *load) waitFor(t testing.TB, what string, limit time.Duration, cond func(counts map[int]int, acked int) bool) {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		if counts, acked := l.snapshot(); cond(counts, acked) {
			return
		}
		select {
		case <-l.notify:
		case <-deadline.C:
			counts, acked := l.snapshot()
			t.Fatalf("%s: not within %v (counts %v, acked %d)", what, limit, counts, acked)
		}
	}
}

// slowestAnswer returns the longest time an answer with status code took.
func (l *load) slowestAnswer(code int) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.slowest[code]
}

// finish stops the writers and returns the ids of the acknowledged posts.
func (l *load) finish() []string {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.acked...)
}

// only fails unless every status in counts is one of allowed.
func only(t testing.TB, counts map[int]int, allowed ...int) {
	t.Helper()
	for code, n := range counts {
		ok := false
		for _, a := range allowed {
			ok = ok || code == a
		}
		if !ok {
			t.Errorf("%d answers with status %d; allowed: %v (-1 = connection refused, 0 = other transport error, -503 = 503 without Retry-After, -201 = 201 without a post id)", n, code, allowed)
		}
	}
}

func joinIDs(ids []string) string { return strings.Join(ids, ",") }
