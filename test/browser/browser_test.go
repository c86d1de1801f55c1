package browser_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestBrowser runs the web UI and the Socket.IO endpoint of a real
// "herald serve" in Chromium. The subtests share one server and run in order.
func TestBrowser(t *testing.T) {
	chromium := requireTools(t)
	root := repoRoot(t)
	ensureNodeModules(t, ".")
	ensureUI(t, filepath.Join(root, "web"))
	bin := buildHerald(t, root)
	artifacts := artifactsDir(t)
	srv := startHerald(t, bin, filepath.Join(artifacts, "herald-serve.log"))
	images := writeImages(t)
	env := []string{
		"HERALD_URL=" + srv.url,
		"ARTIFACTS_DIR=" + artifacts,
		"CHROMIUM_PATH=" + chromium,
		"IMAGE_PNG=" + images.png,
		"IMAGE_JPEG=" + images.jpeg,
	}

	t.Run("Routes", func(t *testing.T) {
		// The UI's client-side routes survive a reload; missing assets are 404.
		for _, tc := range []struct {
			path, contentType string
			status            int
		}{
			{"/", "text/html", http.StatusOK},
			{"/post/0123456789abcdef01234567", "text/html", http.StatusOK},
			{"/signup", "text/html", http.StatusOK},
			{"/assets/missing-file.js", "", http.StatusNotFound},
		} {
			res, body := get(t, srv.url+tc.path, nil)
			if res.StatusCode != tc.status {
				t.Errorf("GET %s: status %d, want %d", tc.path, res.StatusCode, tc.status)
			}
			if tc.contentType != "" {
				if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
					t.Errorf("GET %s: Content-Type %q, want %s", tc.path, ct, tc.contentType)
				}
				if !bytes.Contains(body, []byte(`<div id="root">`)) {
					t.Errorf("GET %s: not the UI's index.html:\n%.300s", tc.path, body)
				}
			}
		}
	})

	t.Run("WebUnit", func(t *testing.T) {
		// The UI's pure parts (feed state, API errors): npm test in web/.
		web := filepath.Join(root, "web")
		files, _ := filepath.Glob(filepath.Join(web, "test", "*.test.js"))
		if len(files) == 0 {
			t.Fatal("no unit tests in web/test")
		}
		run(t, 2*time.Minute, web, "node", append([]string{"--test"}, files...)...)
	})

	t.Run("TwoUsers", func(t *testing.T) {
		res := runNode(t, 5*time.Minute, "ui.mjs", env...)
		var out struct {
			Checks []string `json:"checks"`
		}
		decode(t, res.Result, &out)
		for _, c := range out.Checks {
			t.Logf("ok: %s", c)
		}
		if len(out.Checks) < 15 {
			t.Errorf("the script reported %d checks, want at least 15", len(out.Checks))
		}
		for _, name := range []string{"04-alice-feed-after-create", "05-bob-feed-after-create-360px", "08-bob-feed-after-delete-360px"} {
			requireFile(t, filepath.Join(artifacts, name+".png"))
		}
	})

	t.Run("CrossOriginV2", func(t *testing.T) {
		page := crossOriginPage(t)
		// The Socket.IO endpoint echoes the page's origin with credentials,
		// for Engine.IO 3 (the v2 client) and 4 alike.
		for _, eio := range []string{"3", "4"} {
			url := srv.url + "/socket.io/?EIO=" + eio + "&transport=polling"
			res, body := get(t, url, http.Header{"Origin": {page.URL}})
			closePolling(t, url, eio, body)
			if res.StatusCode != http.StatusOK {
				t.Errorf("EIO=%s handshake from %s: status %d", eio, page.URL, res.StatusCode)
			}
			if got := res.Header.Get("Access-Control-Allow-Origin"); got != page.URL {
				t.Errorf("EIO=%s handshake: Access-Control-Allow-Origin %q, want %q", eio, got, page.URL)
			}
			if got := res.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
				t.Errorf("EIO=%s handshake: Access-Control-Allow-Credentials %q, want true", eio, got)
			}
		}

		res := runNode(t, 3*time.Minute, "crossorigin.mjs", append(env, "PAGE_URL="+page.URL)...)
		var out struct {
			PageOrigin string `json:"pageOrigin"`
			Protocol   int    `json:"protocol"`
			Upgraded   string `json:"upgraded"`
			RestStatus int    `json:"restStatus"`
			Polling    []struct {
				Method           string `json:"method"`
				Status           int    `json:"status"`
				AllowOrigin      string `json:"allowOrigin"`
				AllowCredentials string `json:"allowCredentials"`
			} `json:"polling"`
			Created struct {
				Post    map[string]any `json:"post"`
				Creator map[string]any `json:"creator"`
			} `json:"created"`
			Events []struct {
				Action string         `json:"action"`
				Post   map[string]any `json:"post"`
			} `json:"events"`
		}
		decode(t, res.Result, &out)
		if out.PageOrigin != page.URL {
			t.Errorf("the page ran on %q, want %q", out.PageOrigin, page.URL)
		}
		if out.Protocol != 4 {
			t.Errorf("socket.io protocol %d, want 4 (socket.io-client 2.x)", out.Protocol)
		}
		if out.Upgraded != "websocket" {
			t.Errorf("the v2 client upgraded to %q, want websocket", out.Upgraded)
		}
		if out.RestStatus != http.StatusOK {
			t.Errorf("GET /feed/posts from the page answered %d", out.RestStatus)
		}
		if len(out.Polling) == 0 {
			t.Errorf("the v2 client made no polling request")
		}
		for _, p := range out.Polling {
			if p.AllowOrigin != page.URL || p.AllowCredentials != "true" {
				t.Errorf("polling %s answered %d with Access-Control-Allow-Origin %q, -Credentials %q; want %q, true",
					p.Method, p.Status, p.AllowOrigin, p.AllowCredentials, page.URL)
			}
		}
		if len(out.Events) != 1 {
			t.Fatalf("the page received %d posts events, want 1: %+v", len(out.Events), out.Events)
		}
		ev := out.Events[0]
		if ev.Action != "create" {
			t.Errorf("event action %q, want create", ev.Action)
		}
		want := out.Created.Post
		for _, k := range []string{"_id", "title", "content", "imageUrl", "createdAt", "updatedAt"} {
			if ev.Post[k] != want[k] || want[k] == nil {
				t.Errorf("event post %s = %v, the 201 answer has %v", k, ev.Post[k], want[k])
			}
		}
		if got := fmt.Sprint(ev.Post["creator"]); got != fmt.Sprint(map[string]any{"_id": out.Created.Creator["_id"], "name": "Carol"}) {
			t.Errorf("event post creator %s, want {_id: %v, name: Carol}", got, out.Created.Creator["_id"])
		}
		if title := ev.Post["title"]; title != "Hello from Node" {
			t.Errorf("event post title %v", title)
		}
		if u, _ := ev.Post["imageUrl"].(string); !strings.HasPrefix(u, "images/") {
			t.Errorf("event post imageUrl %q, want images/…", u)
		}
		requireFile(t, filepath.Join(artifacts, "crossorigin-v2.png"))
	})
}

// requireTools returns Chromium's path. Without node or Chromium the test is
// skipped, or fails when the CI variable is set.
func requireTools(t *testing.T) string {
	t.Helper()
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node (Node.js 18+) is not on PATH")
	}
	chromium := os.Getenv("CHROMIUM_PATH")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, chromium+" is missing (apt-get install chromium)")
	}
	if len(missing) > 0 {
		msg := "the browser tests cannot run: " + strings.Join(missing, "; ")
		if _, ci := os.LookupEnv("CI"); ci {
			t.Fatal(msg)
		}
		t.Skip(msg + "; skipped because CI is unset")
	}
	return chromium
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: run the test from its package folder (go test ./test/browser/)", root)
	}
	return root
}

// ensureNodeModules runs "npm ci" in dir unless its node_modules matches its
// package-lock.json.
func ensureNodeModules(t *testing.T, dir string) {
	t.Helper()
	installed := filepath.Join(dir, "node_modules", ".package-lock.json")
	if !olderThan(t, installed, filepath.Join(dir, "package-lock.json")) {
		return
	}
	abs, _ := filepath.Abs(dir)
	t.Logf("running npm ci in %s", abs)
	run(t, 5*time.Minute, dir, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
}

// ensureUI builds web/dist when index.html is missing or older than any
// source of the UI, so that the herald binary embeds the current UI.
func ensureUI(t *testing.T, web string) {
	t.Helper()
	index := filepath.Join(web, "dist", "index.html")
	var sources []string
	for _, name := range []string{"index.html", "vite.config.js", "package.json", "package-lock.json", "src", "public"} {
		sources = append(sources, filepath.Join(web, name))
	}
	stale := false
	for _, s := range sources {
		if olderThan(t, index, s) {
			stale = true
			break
		}
	}
	if !stale {
		return
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatalf("web/dist is missing or older than web/src, and npm is not on PATH: run \"npm ci && npm run build\" in web/ (%v)", err)
	}
	t.Log("web/dist is missing or stale: building the UI (npm ci && npm run build in web/)")
	ensureNodeModules(t, web)
	run(t, 5*time.Minute, web, "npm", "run", "build")
	if _, err := os.Stat(index); err != nil {
		t.Fatalf("npm run build in web/ wrote no dist/index.html: %v", err)
	}
}

// olderThan reports whether file is missing or older than the newest file
// under src (a file or a folder; a missing src counts as old).
func olderThan(t *testing.T, file, src string) bool {
	t.Helper()
	fi, err := os.Stat(file)
	if err != nil {
		return true
	}
	newer := false
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.ModTime().After(fi.ModTime()) {
			newer = true
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", src, err)
	}
	return newer
}

func run(t *testing.T, timeout time.Duration, dir, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
}

func buildHerald(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "herald")
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	run(t, 5*time.Minute, root, goCmd, "build", "-o", bin, "./cmd/herald")
	return bin
}

type herald struct {
	url string
}

// listening finds the address in the server's "listening" log line, in
// slog's text (addr=127.0.0.1:1234) or JSON ("addr":"127.0.0.1:1234") form.
var listening = regexp.MustCompile(`addr[=":]+"?((?:\[[0-9a-fA-F:]+\]|[0-9.]+|localhost):\d+)`)

// startHerald runs "herald serve" on a free port with a temporary data
// folder, waits for its "listening" log line, and stops it with SIGTERM
// when the test ends (failing the test if it does not exit cleanly). Its
// output is saved in logFile.
func startHerald(t *testing.T, bin, logFile string) herald {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	logs := &logWriter{addr: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting herald serve: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		stopping := time.Now()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("herald serve exited after SIGTERM with %v", err)
			}
			t.Logf("herald serve stopped %v after SIGTERM", time.Since(stopping).Round(time.Millisecond))
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("herald serve did not exit within 20 s of SIGTERM")
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
		return herald{url: "http://" + addr}
	case err := <-exited:
		exited <- err
		t.Fatalf("herald serve exited before listening (%v):\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("herald serve printed no listening address within 30 s:\n%s", logs.String())
	}
	panic("unreachable")
}

// logWriter keeps a process's output and reports the first listening address.
type logWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	line  []byte
	found bool
	addr  chan string
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			break
		}
		line := w.line[:i]
		w.line = w.line[i+1:]
		if w.found || !bytes.Contains(bytes.ToLower(line), []byte("listening")) {
			continue
		}
		if m := listening.FindSubmatch(line); m != nil {
			w.found = true
			w.addr <- string(m[1])
		}
	}
	return len(p), nil
}

func (w *logWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

type imageFiles struct{ png, jpeg string }

// writeImages draws the two images the UI test uploads.
func writeImages(t *testing.T) imageFiles {
	t.Helper()
	dir := t.TempDir()
	draw := func(w, h int, from, to color.RGBA) *image.RGBA {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				f := float64(x+y) / float64(w+h)
				mix := func(a, b uint8) uint8 { return uint8(float64(a)*(1-f) + float64(b)*f) }
				img.SetRGBA(x, y, color.RGBA{mix(from.R, to.R), mix(from.G, to.G), mix(from.B, to.B), 255})
			}
		}
		return img
	}
	files := imageFiles{png: filepath.Join(dir, "sunrise.png"), jpeg: filepath.Join(dir, "dusk.jpg")}
	var buf bytes.Buffer
	if err := png.Encode(&buf, draw(640, 360, color.RGBA{67, 56, 202, 255}, color.RGBA{250, 180, 90, 255})); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(files.png, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := jpeg.Encode(&buf, draw(800, 600, color.RGBA{20, 30, 60, 255}, color.RGBA{230, 90, 120, 255}), &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(files.jpeg, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return files
}

// artifactsDir is where screenshots go: $ARTIFACTS_DIR or ./artifacts.
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

// crossOriginPage serves the v2 client's page on a port of its own, so that
// its origin differs from herald's.
func crossOriginPage(t *testing.T) *httptest.Server {
	t.Helper()
	bundle := filepath.Join("node_modules", "socket.io-client", "dist", "socket.io.js")
	requireFile(t, bundle)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join("testdata", "crossorigin.html"))
	})
	mux.HandleFunc("GET /socket.io.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, bundle)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res, body
}

// closePolling ends the Engine.IO session that handshake (the body of a
// polling handshake) opened, as a client leaving would: a close packet.
func closePolling(t *testing.T, url, eio string, handshake []byte) {
	t.Helper()
	m := regexp.MustCompile(`"sid":"([^"]+)"`).FindSubmatch(handshake)
	if m == nil {
		t.Errorf("no sid in the EIO=%s handshake %q", eio, handshake)
		return
	}
	payload := "1" // Engine.IO 4: the close packet
	if eio == "3" {
		payload = "1:1" // Engine.IO 3 payloads prefix each packet with its length
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"&sid="+string(m[1]), strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("closing the EIO=%s session: %v", eio, err)
		return
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("closing the EIO=%s session: status %d", eio, res.StatusCode)
	}
}

func requireFile(t *testing.T, name string) {
	t.Helper()
	if fi, err := os.Stat(name); err != nil || fi.Size() == 0 {
		t.Errorf("missing or empty file %s (%v)", name, err)
	}
}

func decode(t *testing.T, raw json.RawMessage, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
}

type nodeRun struct {
	Result json.RawMessage // the {"event":"result","ok":true,...} line
}

// runNode runs js/<script> with env added to the environment and a
// deadline. It fails t unless the script prints {"event":"result","ok":true}
// and exits 0; the script's output is logged on failure.
func runNode(t *testing.T, timeout time.Duration, script string, env ...string) nodeRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("js", script))
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, fmt.Sprintf("SCRIPT_TIMEOUT_MS=%d", (timeout-10*time.Second).Milliseconds()))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	var run nodeRun
	var steps []string
	sc := bufio.NewScanner(bytes.NewReader(stdout.Bytes()))
	sc.Buffer(nil, 16<<20)
	var result struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ev struct {
			Event string `json:"event"`
			Name  string `json:"name"`
		}
		if json.Unmarshal(line, &ev) != nil {
			t.Errorf("node js/%s printed a line that is not JSON: %q", script, line)
			continue
		}
		switch ev.Event {
		case "step":
			steps = append(steps, ev.Name)
		case "result":
			run.Result = json.RawMessage(bytes.Clone(line))
			_ = json.Unmarshal(line, &result)
		}
	}
	fail := func(format string, args ...any) {
		t.Fatalf("node js/%s: %s\nsteps done: %s\nstderr:\n%s", script, fmt.Sprintf(format, args...), strings.Join(steps, " | "), stderr.String())
	}
	switch {
	case ctx.Err() != nil:
		fail("did not finish within %v", timeout)
	case run.Result == nil:
		fail("printed no result line (%v)", err)
	case !result.OK:
		fail("failed: %s", result.Error)
	case err != nil:
		fail("exited with %v", err)
	}
	return run
}
