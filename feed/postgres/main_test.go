package postgres_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the tests if goroutines outlive them (a store left open).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
