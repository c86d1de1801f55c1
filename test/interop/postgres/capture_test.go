package pginterop_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var captureIDs = regexp.MustCompile(`\\"(uid|requestId|attachmentId)\\":\\"[0-9a-f]+\\"|b0[0-9a-f]{32}`)

// TestGoldenCaptureIsCurrent runs js/capture.mjs against the installed
// Node packages and checks that they still produce the messages of
// adapter/cluster/testdata/node-postgres-capture.jsonl (the golden file of
// the codec tests; regenerate it with this script when they change), ids
// aside.
func TestGoldenCaptureIsCurrent(t *testing.T) {
	requireNode(t)
	pool := newPool(t)
	prefix, table := uniqueNames(t, pool)
	ctx, cancel := context.WithTimeout(context.Background(), 4*wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("js", "capture.mjs"), databaseURL(), prefix, table)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("capture.mjs: %v\n%s", err, stderr.String())
	}
	golden, err := os.ReadFile(filepath.Join("..", "..", "..", "adapter", "cluster", "testdata", "node-postgres-capture.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	norm := func(b []byte) []string {
		// The uid inside MessagePack attachments is "b0" + 16 hex characters.
		return strings.Split(strings.TrimSpace(captureIDs.ReplaceAllString(string(b), "ID")), "\n")
	}
	// A Node server publishes each message with its own database round
	// trips, so their order varies from run to run.
	got, want := norm(out), norm(golden)
	sort.Strings(got)
	sort.Strings(want)
	if len(got) != len(want) {
		t.Fatalf("capture has %d messages, golden file %d:\n%s", len(got), len(want), out)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("message %d differs:\n now: %.300s\n gold: %.300s", i, got[i], want[i])
		}
	}
}
