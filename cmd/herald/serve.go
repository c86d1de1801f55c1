package main

import (
	"context"
	"errors"
	"io"
)

// runServe is replaced by the feed service (issue 4).
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not built yet")
}
