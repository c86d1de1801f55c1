package interop_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// nodeSlots bounds the Node processes running at once, so that parallel
// subtests on a small CI machine do not starve each other's timers.
var nodeSlots = make(chan struct{}, max(4, 2*runtime.NumCPU()))

// requireNode fails t unless node is on PATH and every named npm package is
// installed in test/interop/node_modules.
func requireNode(t testing.TB, packages ...string) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node not found on PATH (%v): the interop tests need Node.js 20+", err)
	}
	for _, p := range packages {
		if _, err := os.Stat(filepath.Join("node_modules", p, "package.json")); err != nil {
			t.Fatalf("npm package %s is not installed: run `npm ci` in test/interop (%v)", p, err)
		}
	}
}

// nodeRun is what a script printed and how it ended.
type nodeRun struct {
	ExitCode int
	Lines    []json.RawMessage // every JSON line on stdout, in order
	Result   json.RawMessage   // the last line whose "event" is "result"
	Stdout   string
	Stderr   string
}

// runNode runs `node js/<script> args...` with a deadline and returns its
// output. It fails t if the script cannot be started, outlives the deadline
// or prints no result line; a non-zero exit code is left to the caller. When
// the test fails, the script's output is logged.
func runNode(t testing.TB, timeout time.Duration, script string, args ...string) nodeRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	select {
	case nodeSlots <- struct{}{}:
	case <-ctx.Done():
		t.Fatalf("no slot to run node within %v", timeout)
	}
	defer func() { <-nodeSlots }()

	cmd := exec.CommandContext(ctx, "node", append([]string{filepath.Join("js", script)}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()

	run := nodeRun{Stdout: stdout.String(), Stderr: stderr.String()}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node js/%s %s\nstdout:\n%s\nstderr:\n%s", script, strings.Join(args, " "), run.Stdout, run.Stderr)
		}
	})
	if ctx.Err() != nil {
		t.Fatalf("node js/%s did not finish within %v", script, timeout)
	}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		run.ExitCode = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("running node: %v", err)
	}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ev struct {
			Event string `json:"event"`
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Errorf("node printed a line that is not JSON: %q", line)
			continue
		}
		raw := json.RawMessage(bytes.Clone(line))
		run.Lines = append(run.Lines, raw)
		if ev.Event == "result" {
			run.Result = raw
		}
	}
	if run.Result == nil {
		t.Fatalf("node js/%s exited with code %d and printed no result line", script, run.ExitCode)
	}
	return run
}
