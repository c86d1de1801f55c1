package postgres_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when listeners, adapters, servers or clients
// outlive their tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
