package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldio/herald/feed/pgtest"
	"github.com/heraldio/herald/feed/server"
	"golang.org/x/crypto/bcrypt"
)

const testSecret = "test-secret-0123456789abcdef0123456789abcdef"

// env is one running feed service on a loopback port.
type env struct {
	t       *testing.T
	url     string
	dataDir string
	srv     *server.Server
	client  *http.Client
}

// stores runs fn as parallel subtests against SQLite and PostgreSQL.
func stores(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			fn(t, kind)
		})
	}
}

// testLogWriter sends logs to t.Log until the test ends.
type testLogWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testLogWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(b)))
	}
	return len(b), nil
}

// start runs the service with store kind ("sqlite" or "postgres") in a
// fresh data dir (and schema); mod may change the config. It is stopped,
// gracefully, when the test ends.
func start(t *testing.T, kind string, mod ...func(*server.Config)) *env {
	t.Helper()
	lw := &testLogWriter{t: t}
	cfg := server.Config{
		DataDir:    t.TempDir(),
		JWTSecret:  testSecret,
		BcryptCost: bcrypt.MinCost,
		Logger:     slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if kind == "postgres" {
		cfg.DatabaseURL = pgtest.URL(t)
	}
	for _, m := range mod {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(runCtx, ln) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Serve did not return within 30s of shutdown")
		}
		lw.mu.Lock()
		lw.done = true
		lw.mu.Unlock()
	})
	return &env{t: t, url: "http://" + ln.Addr().String(), dataDir: cfg.DataDir, srv: s,
		client: &http.Client{Timeout: 30 * time.Second}}
}

// resp is a decoded response.
type resp struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

func (r resp) str(key string) string {
	s, _ := r.json[key].(string)
	return s
}

// do sends a request; body may be nil, a string (raw), a *form, or a value
// sent as JSON.
func (e *env) do(method, path, token string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	case *form:
		rd, ctype = bytes.NewReader(b.buf.Bytes()), b.w.FormDataContentType()
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := resp{status: res.StatusCode, header: res.Header, body: b}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &r.json); err != nil {
			e.t.Fatalf("%s %s: bad JSON %q: %v", method, path, b, err)
		}
	}
	return r
}

// expect checks a response's status and message.
func expect(t *testing.T, r resp, status int, message string) {
	t.Helper()
	if r.status != status || r.str("message") != message {
		t.Fatalf("got %d %s; want %d with message %q", r.status, r.body, status, message)
	}
}

// form builds a multipart body.
type form struct {
	buf bytes.Buffer
	w   *multipart.Writer
}

func newForm(fields ...string) *form {
	f := &form{}
	f.w = multipart.NewWriter(&f.buf)
	for i := 0; i+1 < len(fields); i += 2 {
		f.w.WriteField(fields[i], fields[i+1])
	}
	return f
}

func (f *form) file(field, name string, content []byte) *form {
	w, err := f.w.CreateFormFile(field, name)
	if err != nil {
		panic(err)
	}
	w.Write(content)
	return f
}

func (f *form) done() *form {
	f.w.Close()
	return f
}

// A 1x1 PNG and the start of a JPEG: what is checked is the content.
var (
	pngImage  = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")
	jpegImage = append([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"), bytes.Repeat([]byte{0}, 64)...)
)

// signup creates a user and logs in, returning the token and user id.
func (e *env) signup(email, name string) (token, userID string) {
	e.t.Helper()
	r := e.do("PUT", "/auth/signup", "", map[string]string{"email": email, "password": "secret1", "name": name})
	expect(e.t, r, 201, "User created!")
	r = e.do("POST", "/auth/login", "", map[string]string{"email": email, "password": "secret1"})
	if r.status != 200 {
		e.t.Fatalf("login %s: %d %s", email, r.status, r.body)
	}
	return r.str("token"), r.str("userId")
}

// createPost creates a post with a PNG image and returns it.
func (e *env) createPost(token, title string) map[string]any {
	e.t.Helper()
	r := e.do("POST", "/feed/post", token, newForm("title", title, "content", "content of "+title).file("image", "a.png", pngImage).done())
	expect(e.t, r, 201, "Post created successfully!")
	return r.json["post"].(map[string]any)
}

// imageFiles lists the files of the images folder (temporary ones included).
func (e *env) imageFiles() []string {
	e.t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.dataDir, "images"))
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, d := range entries {
		names = append(names, d.Name())
	}
	return names
}

func (e *env) imageExists(imageURL string) bool {
	_, err := os.Stat(filepath.Join(e.dataDir, filepath.FromSlash(imageURL)))
	return err == nil
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

var _ = fmt.Sprint
