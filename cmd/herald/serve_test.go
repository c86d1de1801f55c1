package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldio/herald/feed/pgtest"
)

// logBuffer collects a command's stderr and reports the listening address.
type logBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	addr  chan string
	found bool
}

var listeningRE = regexp.MustCompile(`listening addr=(\S+)`)

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if m := listeningRE.FindSubmatch(b.buf.Bytes()); m != nil && !b.found {
		b.found = true
		b.addr <- string(m[1])
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serve runs "herald serve args…" in-process until the test ends, and
// returns its base URL once it listens.
func serve(t *testing.T, args ...string) (url string, logs *logBuffer) {
	t.Helper()
	logs = &logBuffer{addr: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), logs, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("runServe: %v", err)
			}
			if !strings.Contains(logs.String(), "msg=stopped") && !strings.Contains(strings.Join(args, " "), "warn") {
				t.Errorf("no clean stop in the logs:\n%s", logs)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("runServe did not return within 30s of cancel")
		}
	})
	select {
	case addr := <-logs.addr:
		return "http://" + addr, logs
	case err := <-done:
		t.Fatalf("runServe returned before listening: %v\n%s", err, logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("not listening after 30s:\n%s", logs)
	}
	return "", nil
}

func call(t *testing.T, method, url, token, ctype string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// Production bcrypt cost (12) is slow under the race detector.
	c := &http.Client{Timeout: 2 * time.Minute}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	var v map[string]any
	b, _ := io.ReadAll(res.Body)
	json.Unmarshal(b, &v)
	return res.StatusCode, v
}

var png = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")

// exercise signs up, logs in, creates a post with an image and lists it.
func exercise(t *testing.T, url string) {
	t.Helper()
	if code, _ := call(t, "GET", url+"/healthz", "", "", nil); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	code, v := call(t, "PUT", url+"/auth/signup", "", "application/json", []byte(`{"email":"Cli@Example.com","password":"secret","name":"Cli"}`))
	if code != 201 {
		t.Fatalf("signup: %d %v", code, v)
	}
	code, v = call(t, "POST", url+"/auth/login", "", "application/json", []byte(`{"email":"cli@example.com","password":"secret"}`))
	token, _ := v["token"].(string)
	if code != 200 || token == "" {
		t.Fatalf("login: %d %v", code, v)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("title", "From the command")
	mw.WriteField("content", "Posted through herald serve")
	fw, _ := mw.CreateFormFile("image", "a.png")
	fw.Write(png)
	mw.Close()
	if code, v := call(t, "POST", url+"/feed/post", token, mw.FormDataContentType(), body.Bytes()); code != 201 {
		t.Fatalf("create: %d %v", code, v)
	}
	code, v = call(t, "GET", url+"/feed/posts", token, "", nil)
	if code != 200 || v["totalItems"] != 1.0 {
		t.Fatalf("list: %d %v", code, v)
	}
}

func TestServeSQLite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	url, logs := serve(t, "--data-dir", dir)
	exercise(t, url)
	st, err := os.Stat(filepath.Join(dir, "jwt-secret"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("generated secret file: %v, %v; want mode 0600", st, err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "JWT secret") {
		t.Errorf("no warning about the generated secret:\n%s", logs)
	}
	if _, err := os.Stat(filepath.Join(dir, "feed.db")); err != nil {
		t.Errorf("no SQLite file in the data dir: %v", err)
	}
}

func TestServePostgres(t *testing.T) {
	// At log level warn, the address still comes on stdout.
	url, logs := serve(t, "--data-dir", t.TempDir(), "--database", pgtest.URL(t), "--jwt-secret", "a configured secret of enough length", "--log-level", "warn")
	exercise(t, url)
	if strings.Contains(logs.String(), "JWT secret") {
		t.Errorf("warned about the secret although one was configured:\n%s", logs)
	}
}

func TestServeHelp(t *testing.T) {
	var out bytes.Buffer
	err := runServe(context.Background(), []string{"--help"}, io.Discard, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v, want flag.ErrHelp", err)
	}
	for _, s := range []string{"-addr", "-data-dir", "-database", "-adapter", "-jwt-secret", "-cors-origin", "-log-level",
		"HERALD_ADDR", "HERALD_DATA_DIR", "HERALD_DATABASE", "HERALD_ADAPTER", "HERALD_JWT_SECRET", "HERALD_CORS_ORIGIN", "HERALD_LOG_LEVEL",
		"redis://", "mode=sharded", "key=prefix",
		"-login-limit-account", "-login-limit-ip", "-login-window", "-client-ip-header", "-sqlite-busy-timeout", "-sqlite-write-timeout",
		"HERALD_LOGIN_LIMIT_ACCOUNT", "HERALD_LOGIN_LIMIT_IP", "HERALD_LOGIN_WINDOW", "HERALD_CLIENT_IP_HEADER", "HERALD_SQLITE_BUSY_TIMEOUT", "HERALD_SQLITE_WRITE_TIMEOUT"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("help lacks %s:\n%s", s, out.String())
		}
	}
}

func TestServeBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--log-level", "loud"},
		{"--database", "mysql://x"},
		{"--nope"},
		{"extra"},
		{"--adapter", "postgres"}, // on SQLite
		{"--adapter", "nats://127.0.0.1:4222"},
		{"--adapter", "redis://127.0.0.1:6379?mode=fast"},
		{"--login-limit-account", "0"},
		{"--login-window", "0s"},
		{"--sqlite-busy-timeout", "-1s"},
		{"--sqlite-write-timeout", "soon"},
	} {
		err := runServe(context.Background(), append([]string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, args...), io.Discard, io.Discard)
		if err == nil || errors.Is(err, flag.ErrHelp) {
			t.Errorf("runServe %v = %v, want an error", args, err)
		}
	}
	// The error says what to do.
	err := runServe(context.Background(), []string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--adapter", "postgres"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--database postgres://") {
		t.Errorf("--adapter postgres on SQLite: %v, want an error naming --database", err)
	}
}

// TestServeAdapters runs the service with each cluster adapter, the Redis
// one chosen through HERALD_ADAPTER, and checks the logs say which is on.
func TestServeAdapters(t *testing.T) {
	key := fmt.Sprintf("heraldtest-serve-%d", time.Now().UnixNano())
	for _, tc := range []struct {
		name, env string
		args      []string
		log       string
	}{
		{"memory", "", nil, `msg="socket.io adapter on" adapter=memory`},
		{"postgres", "", []string{"--adapter", "postgres"}, `msg="socket.io adapter on" adapter=postgres`},
		{"redis from env", "redis://127.0.0.1:6379/0?key=" + key, nil, `msg="socket.io adapter on" adapter="redis 127.0.0.1:6379/0"`},
		{"redis sharded", "", []string{"--adapter", "redis://127.0.0.1:6379/0?mode=sharded&key=" + key}, `msg="socket.io adapter on" adapter="redis-sharded 127.0.0.1:6379/0"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("HERALD_ADAPTER", tc.env)
			}
			// LISTEN/NOTIFY channels are per database: a database of its own
			// keeps this instance out of other tests' clusters.
			url, logs := serve(t, append([]string{"--data-dir", t.TempDir(), "--database", freshDatabase(t), "--jwt-secret", "a configured secret of enough length"}, tc.args...)...)
			exercise(t, url)
			if !strings.Contains(logs.String(), tc.log) {
				t.Errorf("the logs lack %s:\n%s", tc.log, logs)
			}
		})
	}
}

// TestServeLoginLimit checks the login limit flags: per-address counting
// under the proxy's header, the per-account limit off.
func TestServeLoginLimit(t *testing.T) {
	t.Setenv("HERALD_LOGIN_LIMIT_IP", "2")
	url, _ := serve(t, "--data-dir", t.TempDir(), "--login-limit-account", "-1", "--client-ip-header", "X-Real-IP", "--login-window", "1h")
	login := func(email, ip string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", url+"/auth/login", strings.NewReader(`{"email":"`+email+`","password":"wrong"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Real-IP", ip)
		res, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	// Each failure names another account: only the address limit counts.
	for i, want := range []int{401, 401, 429} {
		if got := login(fmt.Sprintf("u%d@example.com", i), "203.0.113.7"); got != want {
			t.Fatalf("failure %d from 203.0.113.7: %d, want %d", i+1, got, want)
		}
	}
	if got := login("u9@example.com", "203.0.113.8"); got != 401 {
		t.Fatalf("first failure from another address behind the proxy: %d, want 401", got)
	}
}

// TestServeSQLiteTimeouts checks that the SQLite timeout flags reach the
// store: with the file locked by another connection, a status update fails
// with 503 after the configured 300ms, well before the default 10s busy
// timeout (the client gives up at 8s).
func TestServeSQLiteTimeouts(t *testing.T) {
	dir := t.TempDir()
	url, _ := serve(t, "--data-dir", dir, "--sqlite-busy-timeout", "300ms", "--sqlite-write-timeout", "300ms")
	if code, v := call(t, "PUT", url+"/auth/signup", "", "application/json", []byte(`{"email":"lock@example.com","password":"secret","name":"L"}`)); code != 201 {
		t.Fatalf("signup: %d %v", code, v)
	}
	code, v := call(t, "POST", url+"/auth/login", "", "application/json", []byte(`{"email":"lock@example.com","password":"secret"}`))
	token, _ := v["token"].(string)
	if code != 200 || token == "" {
		t.Fatalf("login: %d %v", code, v)
	}
	setStatus := func(client *http.Client) (*http.Response, error) {
		req, _ := http.NewRequest("PATCH", url+"/auth/status", strings.NewReader(`{"status":"locked out"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		return client.Do(req)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	other, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "feed.db")+"?_pragma=busy_timeout(30000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	holder, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatalf("BEGIN EXCLUSIVE: %v", err)
	}
	res, err := setStatus(&http.Client{Timeout: 8 * time.Second})
	if err != nil {
		t.Fatalf("status update with the file locked: %v (the 300ms timeouts were not applied?)", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status update with the file locked: %d, want 503", res.StatusCode)
	}
	if _, err := holder.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if res, err = setStatus(&http.Client{Timeout: time.Minute}); err != nil || res.StatusCode != 200 {
		t.Fatalf("status update once the lock is gone: %v %v, want 200", res, err)
	}
	res.Body.Close()
}

func TestApplyEnv(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	addr := fs.String("addr", ":8080", "")
	dir := fs.String("data-dir", "./data", "")
	level := fs.String("log-level", "info", "")
	if err := fs.Parse([]string{"--addr", ":9000"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HERALD_ADDR": ":7000", "HERALD_DATA_DIR": "/srv/herald"}
	if err := applyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if *addr != ":9000" || *dir != "/srv/herald" || *level != "info" {
		t.Errorf("addr %q (flag wins), data-dir %q (from env), log-level %q (default)", *addr, *dir, *level)
	}
}

// freshDatabase creates a PostgreSQL database for this test only and
// returns its URL; it is dropped when the test ends.
func freshDatabase(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("heraldserve_%d", time.Now().UnixNano())
	conn, err := pgx.Connect(ctx, pgtest.BaseURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, pgtest.BaseURL())
		if err != nil {
			t.Errorf("connect: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	u, err := neturl.Parse(pgtest.BaseURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
