package feedfault

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
)

// privatePG is a PostgreSQL instance of the test's own, in a temporary
// folder on a free port, so that the test can stop and start it without
// touching the machine's server. Tests need the server binaries
// (initdb, pg_ctl) under /usr/lib/postgresql/*/bin or on PATH, or
// HERALD_PG_BIN pointing at their folder.
type privatePG struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	as   string // OS user to run the server as ("" for the current one)
}

// pgBin finds the folder of initdb and pg_ctl.
func pgBin() (string, error) {
	if d := os.Getenv("HERALD_PG_BIN"); d != "" {
		return d, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	sort.Strings(matches)
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	p, err := exec.LookPath("pg_ctl")
	if err != nil {
		return "", fmt.Errorf("no PostgreSQL server binaries (set HERALD_PG_BIN): %w", err)
	}
	return filepath.Dir(p), nil
}

// startPrivatePG initialises and starts an instance; it is stopped and
// removed when the test ends.
func startPrivatePG(t testing.TB) *privatePG {
	t.Helper()
	bin, err := pgBin()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "feedfault-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p := &privatePG{t: t, bin: bin, dir: dir}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 { // PostgreSQL refuses to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root and no postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.as = "postgres"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p.run("initdb", "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	p.start()
	t.Cleanup(func() {
		// Best effort: the test may have left it stopped.
		cmd := p.command("pg_ctl", "-D", filepath.Join(p.dir, "data"), "-m", "immediate", "-w", "stop")
		cmd.Run()
	})
	return p
}

func (p *privatePG) command(tool string, args ...string) *exec.Cmd {
	path := filepath.Join(p.bin, tool)
	if p.as != "" {
		return exec.Command("runuser", append([]string{"-u", p.as, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func (p *privatePG) run(tool string, args ...string) {
	p.t.Helper()
	out, err := p.command(tool, args...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
}

// start starts the server and waits until it accepts connections.
func (p *privatePG) start() {
	p.t.Helper()
	p.run("pg_ctl", "-D", filepath.Join(p.dir, "data"), "-l", filepath.Join(p.dir, "log"), "-w", "-t", "60",
		"-o", fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=on", p.port, p.dir), "start")
}

// stop stops the server in mode "fast" (clients are disconnected, the
// server shuts down cleanly) or "immediate" (a crash: recovery from the
// WAL at the next start).
func (p *privatePG) stop(mode string) {
	p.t.Helper()
	p.run("pg_ctl", "-D", filepath.Join(p.dir, "data"), "-m", mode, "-w", "-t", "60", "stop")
}

// url is the connection URL of the instance's postgres database.
func (p *privatePG) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", p.port)
}
