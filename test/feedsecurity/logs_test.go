// Package feedsecurity holds whole-service security checks of the feed
// service that need the assembled server (feed/server): what it logs, and
// how it keeps its generated secret.
package feedsecurity

import (
	"bytes"
	"context"
	"encoding/json"
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

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldio/herald/feed/server"
	"golang.org/x/crypto/bcrypt"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var pngImage = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")

// TestSecretsNeverLogged runs the whole service with a generated JWT secret
// and debug logs, goes through signup, logins (right, wrong, over the
// limit), status, create, edit and delete, requests with forged and
// expired tokens, and a failing database; then checks that no password,
// token (nor its signature), secret or password hash appears in the logs,
// and that the generated secret file is private (0600).
func TestSecretsNeverLogged(t *testing.T) {
	logs := &syncBuffer{}
	dataDir := t.TempDir()
	s, err := server.New(context.Background(), server.Config{DataDir: dataDir, BcryptCost: bcrypt.MinCost,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	hc := &http.Client{Timeout: 30 * time.Second}
	call := func(method, path, token, ctype string, body []byte) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		var m map[string]any
		b, _ := io.ReadAll(res.Body)
		json.Unmarshal(b, &m)
		return res.StatusCode, m
	}
	jsonBody := func(v any) []byte { b, _ := json.Marshal(v); return b }
	form := func(title string) ([]byte, string) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		w.WriteField("title", title)
		w.WriteField("content", "Content of "+title)
		fw, _ := w.CreateFormFile("image", "a.png")
		fw.Write(pngImage)
		w.Close()
		return buf.Bytes(), w.FormDataContentType()
	}

	const password = "Pa55word-never-logged"
	const wrongPassword = "Wr0ng-password-never-logged"
	if code, m := call("PUT", "/auth/signup", "", "application/json", jsonBody(map[string]string{"email": "log@example.com", "password": password, "name": "Log"})); code != 201 {
		t.Fatalf("signup: %d %v", code, m)
	}
	code, m := call("POST", "/auth/login", "", "application/json", jsonBody(map[string]string{"email": "log@example.com", "password": password}))
	if code != 200 {
		t.Fatalf("login: %d %v", code, m)
	}
	token := m["token"].(string)
	for range 6 { // the sixth is over the limit: 429
		call("POST", "/auth/login", "", "application/json", jsonBody(map[string]string{"email": "log@example.com", "password": wrongPassword}))
	}
	call("PATCH", "/auth/status", token, "application/json", jsonBody(map[string]string{"status": "Logging"}))
	call("GET", "/auth/status", token, "", nil)
	body, ct := form("Logged post")
	code, m = call("POST", "/feed/post", token, ct, body)
	if code != 201 {
		t.Fatalf("create: %d %v", code, m)
	}
	id := m["post"].(map[string]any)["_id"].(string)
	body, ct = form("Edited post")
	call("PUT", "/feed/post/"+id, token, ct, body)
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"userId": "0123456789abcdef01234567", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("guessed-secret"))
	call("GET", "/feed/posts", forged, "", nil)
	call("GET", "/feed/posts", token+"x", "", nil)
	call("DELETE", "/feed/post/"+id, token, "", nil)
	// An internal error: the database goes away under the service.
	s.Store().Close()
	call("POST", "/auth/login", "", "application/json", jsonBody(map[string]string{"email": "log@example.com", "password": password}))
	call("GET", "/feed/posts", token, "", nil)

	cancel()
	select {
	case <-served:
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return")
	}

	secretPath := filepath.Join(dataDir, "jwt-secret")
	st, err := os.Stat(secretPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("generated secret file: %v, %v; want mode 0600", st, err)
	}
	secret, err := os.ReadFile(secretPath)
	if err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "request") || !strings.Contains(out, "status=429") || !strings.Contains(out, "status=503") && !strings.Contains(out, "status=500") {
		t.Fatalf("the logs do not show the flow (requests, the 429, the failing database):\n%s", out)
	}
	parts := strings.Split(token, ".")
	for what, s := range map[string]string{
		"password": password, "wrong password": wrongPassword, "token": token, "token signature": parts[2],
		"token payload": parts[1], "forged token": forged, "secret": strings.TrimSpace(string(secret)), "bcrypt hash prefix": "$2a$",
	} {
		if strings.Contains(out, s) {
			t.Errorf("the logs hold the %s", what)
		}
	}
	t.Logf("%d log lines checked", strings.Count(out, "\n"))
	if testing.Verbose() {
		t.Log(out)
	}
}
