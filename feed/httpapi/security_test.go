package httpapi_test

import (
	"context"
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

// TestLengthLimits: text fields have maximum lengths (in characters, the
// password in bytes) answered with 422 and the failed field, and the
// maximum itself is accepted.
func TestLengthLimits(t *testing.T) {
	a := newAPI(t)
	a.signup("len@example.com", "len-password")
	token := a.login("127.0.0.1", "len@example.com", "len-password").str("token")
	signup := func(name, password string) result {
		return a.do("PUT", "/auth/signup", "", "", map[string]string{"email": "x" + feed.NewID()[:8] + "@example.com", "password": password, "name": name})
	}
	expectField := func(r result, what, param string) {
		t.Helper()
		if r.status != 422 {
			t.Fatalf("%s: %d %s; want 422", what, r.status, r.body)
		}
		data, _ := r.json["data"].([]any)
		for _, d := range data {
			if m, _ := d.(map[string]any); m["param"] == param {
				return
			}
		}
		t.Errorf("%s: no failure for %s in %s", what, param, r.body)
	}
	expectField(signup(strings.Repeat("n", feed.MaxNameLen+1), "password"), "name too long", "name")
	long := strings.Repeat("l", 64) + "@" + strings.Repeat("d", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("d", 63) + ".com"
	expectField(a.do("PUT", "/auth/signup", "", "", map[string]string{"email": long, "password": "password", "name": "N"}), "email over 254 bytes", "email")
	expectField(a.do("PUT", "/auth/signup", "", "", map[string]string{"email": strings.Repeat("l", 65) + "@example.com", "password": "password", "name": "N"}), "local part over 64", "email")
	expectField(signup("Name", strings.Repeat("p", feed.MaxPasswordLen+1)), "password over 72 bytes", "password")
	expectField(signup("Name", strings.Repeat("é", 37)), "password of 37 two-byte characters", "password")
	if r := signup(strings.Repeat("ñ", feed.MaxNameLen), strings.Repeat("p", feed.MaxPasswordLen)); r.status != 201 {
		t.Errorf("maximum name and password: %d %s", r.status, r.body)
	}
	expectField(a.do("PATCH", "/auth/status", token, "", map[string]string{"status": strings.Repeat("s", feed.MaxStatusLen+1)}), "status too long", "status")
	if r := a.do("PATCH", "/auth/status", token, "", map[string]string{"status": strings.Repeat("s", feed.MaxStatusLen)}); r.status != 200 {
		t.Errorf("maximum status: %d %s", r.status, r.body)
	}
	post := func(title, content string) result {
		body, ct := multipartBody(pngImage, "title", title, "content", content)
		req := httptest.NewRequest("POST", "/feed/post", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+token)
		return a.serve(req)
	}
	expectField(post(strings.Repeat("t", feed.MaxTitleLen+1), "Content"), "title too long", "title")
	expectField(post("Title", strings.Repeat("c", feed.MaxContentLen+1)), "content too long", "content")
	if r := post(strings.Repeat("t", feed.MaxTitleLen), strings.Repeat("c", feed.MaxContentLen)); r.status != 201 {
		t.Errorf("maximum title and content: %d %s", r.status, r.body)
	}
	// A multipart text field over 64 KiB is refused while it is read.
	if r := post("Title", strings.Repeat("c", 70_000)); r.status != 413 {
		t.Errorf("70 kB content field: %d %s; want 413", r.status, r.body)
	}
}

// TestAPISecurityHeaders: every API answer (JSON, image, error, OPTIONS)
// says nosniff, may not be framed, has a CSP that allows nothing (the API
// serves no pages) and sends no referrer; JSON answers are not cached.
func TestAPISecurityHeaders(t *testing.T) {
	a := newAPI(t)
	a.signup("hdr@example.com", "hdr-password")
	r := a.login("127.0.0.1", "hdr@example.com", "hdr-password")
	token := r.str("token")
	body, ct := multipartBody(pngImage, "title", "Header post", "content", "Header content")
	req := httptest.NewRequest("POST", "/feed/post", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+token)
	created := a.serve(req)
	image := "/" + created.json["post"].(map[string]any)["imageUrl"].(string)
	for what, res := range map[string]result{
		"login":   r,
		"create":  created,
		"401":     a.do("GET", "/feed/posts", "", "", nil),
		"404":     a.do("GET", "/nothing", "", "", nil),
		"OPTIONS": a.do("OPTIONS", "/feed/post", "", "", nil),
		"image":   a.serve(httptest.NewRequest("GET", image, nil)),
	} {
		h := res.header
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" ||
			h.Get("Content-Security-Policy") != "default-src 'none'; frame-ancestors 'none'" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: security headers %v", what, h)
		}
		if h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s: the API allows credentials: %v", what, h)
		}
		if strings.HasPrefix(h.Get("Content-Type"), "application/json") && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: JSON answer cacheable: %v", what, h)
		}
	}
}

// TestDefaultBcryptCost: without a configured cost, passwords are hashed
// with bcrypt cost 12, and the hash is not in the answer.
func TestDefaultBcryptCost(t *testing.T) {
	dir := t.TempDir()
	// Cost 12 takes seconds under the race detector: no deadline on the
	// hashing, one on each store call.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "feed.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := feed.NewService(store, nil)
	a := newAPI(t, func(o *httpapi.Options) { o.Service = svc })
	r := a.do("PUT", "/auth/signup", "", "", map[string]string{"email": "cost@example.com", "password": "cost-password", "name": "Cost"})
	if r.status != 201 {
		t.Fatalf("signup: %d %s", r.status, r.body)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := store.UserByEmail(ctx, "cost@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(u.Password)); err != nil || cost != 12 {
		t.Errorf("bcrypt cost %d, %v; want 12", cost, err)
	}
	if strings.Contains(string(r.body), u.Password) || strings.Contains(string(r.body), "$2a$") {
		t.Errorf("answer holds the hash: %s", r.body)
	}
}
