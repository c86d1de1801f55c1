// Package feed_test holds black-box tests of the built herald binary: they
// start "herald serve" as a separate process and talk to it over HTTP only.
package feed_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// herald builds the binary once per test run.
var herald = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "herald-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "herald")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/heraldio/herald/cmd/herald").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// server is a running "herald serve" process.
type server struct {
	cmd  *exec.Cmd
	base string
	logs *bytes.Buffer
	mu   *sync.Mutex
}

var listenRE = regexp.MustCompile(`listening.*addr=([0-9.]+:[0-9]+)`)

// start runs herald serve with args and waits (bounded) for its listening line.
func start(t *testing.T, args ...string) *server {
	t.Helper()
	bin, err := herald()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "warn"}, args...)...)
	cmd.Env = append(os.Environ(), "HERALD_LOG_LEVEL=")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, logs: new(bytes.Buffer), mu: new(sync.Mutex)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.logs.WriteString(line + "\n")
			s.mu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	go func() { _ = cmd.Wait(); pw.Close() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case a := <-addr:
		s.base = "http://" + a
	case <-time.After(30 * time.Second):
		s.mu.Lock()
		defer s.mu.Unlock()
		t.Fatalf("herald serve printed no listening line in 30s:\n%s", s.logs)
	}
	return s
}

func (s *server) call(t *testing.T, method, path, token, ctype string, body io.Reader, want int, out any) {
	t.Helper()
	req, err := http.NewRequest(method, s.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

func (s *server) login(t *testing.T) string {
	email := fmt.Sprintf("durable-%d@example.com", rand.Int64())
	body := fmt.Sprintf(`{"email":%q,"password":"secret-pass","name":"Durable"}`, email)
	s.call(t, http.MethodPut, "/auth/signup", "", "application/json", strings.NewReader(body), http.StatusCreated, nil)
	var out struct{ Token string }
	body = fmt.Sprintf(`{"email":%q,"password":"secret-pass"}`, email)
	s.call(t, http.MethodPost, "/auth/login", "", "application/json", strings.NewReader(body), http.StatusOK, &out)
	return out.Token
}

func pngBytes() []byte {
	var b bytes.Buffer
	_ = png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1)))
	return b.Bytes()
}

// createPost answers the post's id, or "" when the request failed at the
// transport (the process was killed under it): that post was never
// acknowledged.
func createPost(base, token string, i int) (string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("title", fmt.Sprintf("Durable post %d", i))
	_ = mw.WriteField("content", "acknowledged means stored")
	fw, _ := mw.CreateFormFile("image", "p.png")
	_, _ = fw.Write(pngBytes())
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, base+"/feed/post", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	var out struct {
		Post struct {
			ID string `json:"_id"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", err
	}
	return out.Post.ID, nil
}

// testDurability creates posts from many goroutines, SIGKILLs the server
// the moment the batch's last 201 has been read (other creates are still
// in flight), restarts it on the same data, and checks that every
// acknowledged post is there.
func testDurability(t *testing.T, args ...string) {
	s := start(t, args...)
	token := s.login(t)

	const batch, extra = 40, 16
	acked := make(chan string, batch+extra)
	var wg sync.WaitGroup
	var okCount sync.WaitGroup
	okCount.Add(batch)
	var n int
	var nmu sync.Mutex
	for i := range batch + extra {
		wg.Go(func() {
			id, err := createPost(s.base, token, i)
			if err != nil || id == "" {
				return // in flight when the process died: not acknowledged
			}
			acked <- id
			nmu.Lock()
			n++
			if n <= batch {
				okCount.Done()
			}
			nmu.Unlock()
		})
	}
	done := make(chan struct{})
	go func() { okCount.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the batch was not acknowledged within 60s")
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(acked)
	var ids []string
	for id := range acked {
		ids = append(ids, id)
	}
	if len(ids) < batch {
		t.Fatalf("%d posts acknowledged, want at least %d", len(ids), batch)
	}

	r := start(t, args...)
	for _, id := range ids {
		var out struct {
			Post struct {
				ID       string `json:"_id"`
				ImageURL string `json:"imageUrl"`
			}
		}
		r.call(t, http.MethodGet, "/feed/post/"+id, token, "", nil, http.StatusOK, &out)
		if out.Post.ID != id {
			t.Fatalf("post %s came back as %q", id, out.Post.ID)
		}
		resp, err := http.Get(r.base + "/" + out.Post.ImageURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("image of acknowledged post %s: status %d", id, resp.StatusCode)
		}
	}
	var list struct{ TotalItems int }
	r.call(t, http.MethodGet, "/feed/posts?page=1", token, "", nil, http.StatusOK, &list)
	if list.TotalItems < len(ids) {
		t.Fatalf("totalItems %d after restart, %d acknowledged", list.TotalItems, len(ids))
	}
	t.Logf("%d posts acknowledged before SIGKILL (%d requests in flight); all there after restart, totalItems %d",
		len(ids), batch+extra-len(ids), list.TotalItems)
}

func TestDurabilitySQLite(t *testing.T) {
	testDurability(t, "--data-dir", t.TempDir())
}

func TestDurabilityPostgres(t *testing.T) {
	url := freshDatabase(t)
	testDurability(t, "--data-dir", t.TempDir(), "--database", url)
}

// freshDatabase creates a database of its own on the local PostgreSQL and
// drops it when the test ends.
func freshDatabase(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	admin := "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	if v := os.Getenv("HERALD_TEST_POSTGRES"); v != "" {
		admin = v
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("PostgreSQL on 127.0.0.1:5432: %v", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("herald_durable_%d", rand.Uint32())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return strings.Replace(admin, "/test?", "/"+name+"?", 1)
}
