package engineio_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: every
// session, reader, flusher and timer must be gone once its server is closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
