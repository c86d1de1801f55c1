package cluster_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/socketio"
)

const jwtSecret = "cluster-test-secret-0123456789abcdef0123456789"

// TestCluster runs two "herald serve" processes on one PostgreSQL database
// as one service, through each cluster adapter. See the package doc.
func TestCluster(t *testing.T) {
	chromium := requireTools(t)
	root := repoRoot(t)
	ensureNodeModules(t, ".")
	ensureUI(t, filepath.Join(root, "web"))
	bin := buildHerald(t, root)
	artifacts := artifactsDir(t)
	img := writeImage(t)
	redisAddr := os.Getenv("HERALD_TEST_REDIS")
	if redisAddr == "" {
		redisAddr = "127.0.0.1:6379"
	}

	for _, tc := range []struct{ name, adapter string }{
		{"postgres", "postgres"},
		{"redis", "redis://" + redisAddr + "/0?key=" + randomName("heraldtest-")},
		{"redis-sharded", "redis://" + redisAddr + "/0?mode=sharded&key=" + randomName("heraldtest-")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := freshDatabase(t)
			data := t.TempDir() // shared: the JWT secret and the images
			args := []string{"--database", db, "--adapter", tc.adapter, "--data-dir", data, "--jwt-secret", jwtSecret}
			a := startHerald(t, bin, filepath.Join(artifacts, tc.name+"-a.log"), args...)
			b := startHerald(t, bin, filepath.Join(artifacts, tc.name+"-b.log"), args...)
			for _, h := range []herald{a, b} {
				if !strings.Contains(h.logs.String(), `msg="socket.io adapter on"`) {
					t.Errorf("%s: no log line says which adapter is on:\n%s", h.url, h.logs)
				}
			}

			t.Run("Browser", func(t *testing.T) {
				res := runNode(t, 3*time.Minute, "cluster.mjs",
					"HERALD_A="+a.url, "HERALD_B="+b.url, "ARTIFACTS_DIR="+artifacts,
					"CHROMIUM_PATH="+chromium, "IMAGE_PNG="+img, "NAME="+tc.name)
				var out struct {
					Checks         []string `json:"checks"`
					TotalA, TotalB float64
				}
				decode(t, res.Result, &out)
				for _, c := range out.Checks {
					t.Logf("ok: %s", c)
				}
				if len(out.Checks) != 6 {
					t.Errorf("the script reported %d checks, want 6", len(out.Checks))
				}
				if out.TotalA != 1 || out.TotalB != 1 {
					t.Errorf("totalItems %v on A, %v on B; want 1 on both", out.TotalA, out.TotalB)
				}
				requireFile(t, filepath.Join(artifacts, tc.name+"-2-b-after-create-on-a.png"))
			})

			t.Run("EventsOnce", func(t *testing.T) {
				// Two clients on B, one on A: every event of a change made
				// through A reaches each exactly once, in order.
				onB1, onB2, onA := listen(t, b.url), listen(t, b.url), listen(t, a.url)
				token := login(t, a.url, "go@example.com")
				id := createPost(t, a.url, token, "From Go on A", img)
				call(t, "PUT", a.url+"/feed/post/"+id, token, form(t, "", "title", "Edited on A", "content", "edited", "image", ""), 200)
				call(t, "DELETE", a.url+"/feed/post/"+id, token, nil, 200)
				// The adapters deliver in publishing order, so a duplicate
				// of any event above would come before this one's.
				last := createPost(t, a.url, token, "Last from Go on A", img)
				want := []string{"create " + id, "update " + id, "delete " + id, "create " + last}
				for name, ch := range map[string]<-chan string{"B1": onB1, "B2": onB2, "A": onA} {
					for i, w := range want {
						select {
						case got := <-ch:
							if got != w {
								t.Errorf("client %s, event %d: %s, want %s", name, i, got, w)
							}
						case <-time.After(20 * time.Second):
							t.Fatalf("client %s: no event %d (%s) within 20s", name, i, w)
						}
					}
				}
				na, nb := totalItems(t, a.url, token), totalItems(t, b.url, token)
				if na != nb || na != 2 {
					t.Errorf("totalItems %d on A, %d on B; want 2 on both", na, nb)
				}
				t.Logf("3 clients (2 on B, 1 on A) each received create, update, delete, create once and in order; totalItems %d on both", na)
			})
		})
	}
}

// artifactsDir is where screenshots and logs go: $ARTIFACTS_DIR or
// ./artifacts.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = "artifacts"
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

func randomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func baseURL() string {
	if u := os.Getenv("HERALD_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// freshDatabase creates a database for this test only (LISTEN/NOTIFY
// channels are per database, so two clusters must not share one) and drops
// it when the test ends, after the servers have stopped.
func freshDatabase(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := randomName("heraldcluster_")
	conn, err := pgx.Connect(ctx, baseURL())
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, baseURL())
		if err != nil {
			t.Errorf("connect: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	u, err := url.Parse(baseURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

type herald struct {
	url  string
	logs *logWriter
}

// startHerald runs "herald serve args…" on a free port, waits for its
// "listening" line (printed once its adapter is subscribed), and stops it
// with SIGTERM when the test ends, failing the test unless it exits
// cleanly. Its output is saved in logFile.
func startHerald(t *testing.T, bin, logFile string, args ...string) herald {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	logs := &logWriter{addr: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting herald serve: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("herald serve exited after SIGTERM with %v", err)
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("herald serve did not exit within 20 s of SIGTERM")
		}
		if !strings.Contains(logs.String(), "msg=stopped") {
			t.Errorf("herald serve logged no clean stop")
		}
		if err := os.WriteFile(logFile, []byte(logs.String()), 0o644); err != nil {
			t.Errorf("saving the server's log: %v", err)
		}
		if t.Failed() {
			t.Logf("herald serve output (also in %s):\n%s", logFile, logs.String())
		}
	})
	select {
	case addr := <-logs.addr:
		return herald{url: "http://" + addr, logs: logs}
	case err := <-exited:
		exited <- err
		t.Fatalf("herald serve exited before listening (%v):\n%s", err, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("herald serve printed no listening address within 60 s:\n%s", logs.String())
	}
	panic("unreachable")
}

// listen connects a Socket.IO client to base and returns its "posts"
// events as "action id".
func listen(t *testing.T, base string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sock, err := client.Dial(ctx, base+"/", &client.DialOptions{Manager: client.ManagerOptions{DisableReconnection: true}})
	if err != nil {
		t.Fatalf("socket.io dial %s: %v", base, err)
	}
	t.Cleanup(func() { sock.Manager().Close() })
	ch := make(chan string, 100)
	sock.On("posts", func(args socketio.Args, _ socketio.Ack) {
		var v struct {
			Action string          `json:"action"`
			Post   json.RawMessage `json:"post"`
		}
		if err := json.Unmarshal(args.Raw(0), &v); err != nil {
			ch <- "undecodable " + string(args.Raw(0))
			return
		}
		var id string
		if json.Unmarshal(v.Post, &id) != nil {
			var p struct {
				ID string `json:"_id"`
			}
			json.Unmarshal(v.Post, &p)
			id = p.ID
		}
		ch <- v.Action + " " + id
	})
	return ch
}

type body struct {
	ctype string
	data  []byte
}

// form builds a multipart body of fields (name, value, …) and, when image
// is not empty, that file as field "image".
func form(t *testing.T, image string, fields ...string) *body {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1])
	}
	if image != "" {
		fw, _ := mw.CreateFormFile("image", filepath.Base(image))
		b, err := os.ReadFile(image)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(b)
	}
	mw.Close()
	return &body{mw.FormDataContentType(), buf.Bytes()}
}

func jsonBody(v any) *body {
	b, _ := json.Marshal(v)
	return &body{"application/json", b}
}

// call makes a request and fails t unless it answers status.
func call(t *testing.T, method, url, token string, b *body, status int) map[string]any {
	t.Helper()
	var r io.Reader
	if b != nil {
		r = bytes.NewReader(b.data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if b != nil {
		req.Header.Set("Content-Type", b.ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != status {
		t.Fatalf("%s %s: %d %s, want %d", method, url, res.StatusCode, raw, status)
	}
	var v map[string]any
	json.Unmarshal(raw, &v)
	return v
}

func login(t *testing.T, base, email string) string {
	t.Helper()
	call(t, "PUT", base+"/auth/signup", "", jsonBody(map[string]string{"email": email, "password": "secret", "name": "Gopher"}), 201)
	v := call(t, "POST", base+"/auth/login", "", jsonBody(map[string]string{"email": email, "password": "secret"}), 200)
	token, _ := v["token"].(string)
	if token == "" {
		t.Fatalf("login: no token in %v", v)
	}
	return token
}

func createPost(t *testing.T, base, token, title, image string) string {
	t.Helper()
	v := call(t, "POST", base+"/feed/post", token, form(t, image, "title", title, "content", "content of "+title), 201)
	post, _ := v["post"].(map[string]any)
	id, _ := post["_id"].(string)
	if id == "" {
		t.Fatalf("create: no post id in %v", v)
	}
	return id
}

func totalItems(t *testing.T, base, token string) int {
	t.Helper()
	v := call(t, "GET", base+"/feed/posts", token, nil, 200)
	n, ok := v["totalItems"].(float64)
	if !ok {
		t.Fatalf("GET /feed/posts on %s: no totalItems in %v", base, v)
	}
	return int(n)
}

// writeImage draws the PNG the tests upload.
func writeImage(t *testing.T) string {
	t.Helper()
	im := image.NewRGBA(image.Rect(0, 0, 320, 180))
	for y := range 180 {
		for x := range 320 {
			im.SetRGBA(x, y, color.RGBA{uint8(60 + x/2), uint8(40 + y), 200, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, im); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cluster.png")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
