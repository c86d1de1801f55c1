package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestHandler(t *testing.T) {
	built := fstest.MapFS{
		"index.html":         {Data: []byte(`<div id="root"></div>`)},
		"favicon.svg":        {Data: []byte(`<svg/>`)},
		"assets/index-1.js":  {Data: []byte(`console.log(1)`)},
		"assets/index-1.css": {Data: []byte(`body{}`)},
	}
	for _, tc := range []struct {
		name, method, path string
		status             int
		body, cache        string
	}{
		{"root", "GET", "/", 200, `<div id="root">`, "no-cache"},
		{"index", "GET", "/index.html", 200, `<div id="root">`, "no-cache"},
		{"client route", "GET", "/post/0123456789abcdef01234567", 200, `<div id="root">`, "no-cache"},
		{"client route with slash", "GET", "/signup/", 200, `<div id="root">`, "no-cache"},
		{"asset", "GET", "/assets/index-1.js", 200, "console.log(1)", "immutable"},
		{"file", "GET", "/favicon.svg", 200, "<svg/>", ""},
		{"missing asset", "GET", "/assets/missing.js", 404, "", ""},
		{"missing file with extension", "GET", "/robots.txt", 404, "", ""},
		{"head", "HEAD", "/", 200, "", "no-cache"},
		{"post", "POST", "/", 405, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			handler(built).ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if !strings.Contains(string(body), tc.body) {
				t.Errorf("body %q does not contain %q", body, tc.body)
			}
			if !strings.Contains(res.Header.Get("Cache-Control"), tc.cache) {
				t.Errorf("Cache-Control %q, want %q", res.Header.Get("Cache-Control"), tc.cache)
			}
		})
	}
}

func TestHandlerNotBuilt(t *testing.T) {
	rec := httptest.NewRecorder()
	handler(fstest.MapFS{".gitkeep": {}}).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "npm run build") {
		t.Errorf("got %d %q, want 503 saying how to build the UI", rec.Code, rec.Body.String())
	}
}
