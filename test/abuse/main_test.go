package abuse_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: every
// hostile connection, session and control client must be gone once its
// test's server is closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
