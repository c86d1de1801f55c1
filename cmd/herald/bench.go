package main

import (
	"context"
	"errors"
	"io"
)

// runBench is replaced by the load generator (issue 6).
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not built yet")
}
