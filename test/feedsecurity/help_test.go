package feedsecurity

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecretNotInHelpOrStartLogs builds herald and checks that a JWT secret
// given through HERALD_JWT_SECRET or --jwt-secret appears neither in
// "herald serve --help" nor in the logs of a serve run from start to
// SIGTERM, and that a configured secret does not leave a file behind.
func TestSecretNotInHelpOrStartLogs(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "herald")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/heraldio/herald/cmd/herald").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const envSecret = "env-secret-SENTINEL-0123456789abcdef0123"
	const flagSecret = "flag-secret-SENTINEL-0123456789abcdef012"
	env := append(os.Environ(), "HERALD_JWT_SECRET="+envSecret)

	for _, args := range [][]string{{"serve", "--help"}, {"serve", "--jwt-secret", flagSecret, "--help"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, _ := cmd.CombinedOutput() // --help exits 0 or 2 depending on the flag package; the text is what matters
		if len(out) < 100 || !strings.Contains(string(out), "jwt-secret") {
			t.Fatalf("%v: no usable help:\n%s", args, out)
		}
		if strings.Contains(string(out), "SENTINEL") {
			t.Errorf("%v prints the secret:\n%s", args, out)
		}
	}

	dataDir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
	}{{"env", nil}, {"flag", []string{"--jwt-secret", flagSecret}}} {
		cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "debug"}, tc.args...)...)
		cmd.Env = env
		var logs bytes.Buffer
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = pw, pw
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		listening := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(pr)
			seen := false
			for sc.Scan() {
				logs.WriteString(sc.Text() + "\n")
				if !seen && strings.Contains(sc.Text(), "listening") {
					seen = true
					close(listening)
				}
			}
		}()
		select {
		case <-listening:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("%s: no listening line:\n%s", tc.name, logs.String())
		}
		cmd.Process.Signal(syscall.SIGTERM)
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		select {
		case err := <-waited:
			if err != nil {
				t.Errorf("%s: exit after SIGTERM: %v", tc.name, err)
			}
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%s: no exit within 60s of SIGTERM", tc.name)
		}
		<-done
		if strings.Contains(logs.String(), "SENTINEL") {
			t.Errorf("%s: the logs hold the secret:\n%s", tc.name, logs.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "jwt-secret")); err == nil {
		t.Errorf("a configured secret was written to the data folder")
	}
}
