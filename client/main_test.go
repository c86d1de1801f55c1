package client_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run when a connection's goroutines, or the HTTP
// connections it owned, outlive the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaks := waitLeaks(5 * time.Second); leaks != "" {
			fmt.Fprintln(os.Stderr, "goroutines leaked:\n"+leaks)
			code = 1
		}
	}
	os.Exit(code)
}

// waitLeaks waits for leaked goroutines to exit (closed connections are
// released asynchronously by the runtime) and returns the stacks of those
// that remain.
func waitLeaks(limit time.Duration) string {
	deadline := time.Now().Add(limit)
	for {
		leaks := leakedGoroutines()
		if leaks == "" || time.Now().After(deadline) {
			return leaks
		}
		time.Sleep(10 * time.Millisecond) // polling the runtime; nothing to wait on
	}
}

func leakedGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var leaks []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "herald/client.(*EngineConn)") ||
			strings.Contains(g, "herald/client.(*Manager)") ||
			strings.Contains(g, "herald/socketio.") ||
			strings.Contains(g, "net/http.(*persistConn)") ||
			strings.Contains(g, "herald/engineio.") {
			leaks = append(leaks, g)
		}
	}
	return strings.Join(leaks, "\n\n")
}
