package redisadapter_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when goroutines outlive their tests:
// subscriber, publisher and worker goroutines, Redis connections, sockets.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
