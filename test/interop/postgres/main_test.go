package pginterop_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when servers, listeners or the Node process's
// readers outlive the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
