package interop_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run when servers or connections outlive the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left running after the tests:\n\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines waits up to timeout for the goroutines of servers,
// connections and child processes to end, and returns the stacks of those
// that did not.
func leakedGoroutines(timeout time.Duration) string {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		leaked := interestingGoroutines()
		if len(leaked) == 0 {
			return ""
		}
		select {
		case <-deadline.C:
			return strings.Join(leaked, "\n\n")
		case <-tick.C:
		}
	}
}

func interestingGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/heraldio/herald/") ||
			strings.Contains(g, "net/http.") ||
			strings.Contains(g, "os/exec.") {
			if !strings.Contains(g, "interop_test.interestingGoroutines") {
				out = append(out, g)
			}
		}
	}
	return out
}
