package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/feed"
	"github.com/heraldio/herald/feed/httpapi"
	"github.com/heraldio/herald/feed/sqlite"
	"golang.org/x/crypto/bcrypt"
)

const testSecret = "test-secret-0123456789abcdef0123456789abcdef"

// api is a Handler over a fresh SQLite store, called in-process.
type api struct {
	t     testing.TB
	h     *httpapi.Handler
	dir   string
	store *sqlite.Store
}

// newAPI builds a Handler over a SQLite store in a temporary folder; mod may
// change the options. The store is closed when the test ends.
func newAPI(t testing.TB, mod ...func(*httpapi.Options)) *api {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "feed.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	opts := httpapi.Options{
		Service:   feed.NewService(store, &feed.ServiceOptions{BcryptCost: bcrypt.MinCost}),
		Secret:    []byte(testSecret),
		ImagesDir: filepath.Join(dir, "images"),
		Logger:    slog.New(slog.DiscardHandler),
	}
	for _, m := range mod {
		m(&opts)
	}
	h, err := httpapi.New(opts)
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	return &api{t: t, h: h, dir: dir, store: store}
}

// result is a recorded response.
type result struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

func (r result) str(key string) string {
	s, _ := r.json[key].(string)
	return s
}

// serve runs req through the handler.
func (a *api) serve(req *http.Request) result {
	a.t.Helper()
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	res := result{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(res.body, &res.json); err != nil {
			a.t.Fatalf("%s %s: bad JSON %q: %v", req.Method, req.URL, res.body, err)
		}
	}
	return res
}

// do sends body as JSON (a string is sent as is) from remote address ip.
func (a *api) do(method, path, token, ip string, body any) result {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, ok := body.(string)
		if !ok {
			j, err := json.Marshal(body)
			if err != nil {
				a.t.Fatal(err)
			}
			b = string(j)
		}
		rd = strings.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ip != "" {
		req.RemoteAddr = net.JoinHostPort(ip, "40000")
	}
	return a.serve(req)
}

func (a *api) signup(email, password string) {
	a.t.Helper()
	r := a.do("PUT", "/auth/signup", "", "", map[string]string{"email": email, "password": password, "name": "User"})
	if r.status != 201 {
		a.t.Fatalf("signup %s: %d %s", email, r.status, r.body)
	}
}

func (a *api) login(ip, email, password string) result {
	a.t.Helper()
	return a.do("POST", "/auth/login", "", ip, map[string]string{"email": email, "password": password})
}

// multipartBody builds a multipart form: fields in pairs, then an optional
// file for field "image".
func multipartBody(image []byte, fields ...string) (body []byte, contentType string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		w.WriteField(fields[i], fields[i+1])
	}
	if image != nil {
		fw, _ := w.CreateFormFile("image", "a.png")
		fw.Write(image)
	}
	w.Close()
	return buf.Bytes(), w.FormDataContentType()
}

var pngImage = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")

func newJSONRequest(method, path, body string) *http.Request {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

// with returns a copy of a that reports to t (a fuzz function's own).
func (a *api) with(t testing.TB) *api {
	c := *a
	c.t = t
	return &c
}
