package socketio_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when goroutines outlive their tests: sockets,
// acknowledgement waiters, dispatchers, engine sessions.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
