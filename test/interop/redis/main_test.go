package redisinterop_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when goroutines outlive their tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
