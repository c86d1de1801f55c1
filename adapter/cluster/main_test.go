package cluster_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when an adapter's goroutines outlive it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
