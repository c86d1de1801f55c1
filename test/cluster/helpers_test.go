package cluster_test

// Helpers copied from test/browser (a _test package is not importable, and
// each browser test folder stands alone).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

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

// listening finds the address in the server's "listening" log line, in
// slog's text (addr=127.0.0.1:1234) or JSON ("addr":"127.0.0.1:1234") form.
var listening = regexp.MustCompile(`addr[=":]+"?((?:\[[0-9a-fA-F:]+\]|[0-9.]+|localhost):\d+)`)

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
