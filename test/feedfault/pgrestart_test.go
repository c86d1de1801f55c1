package feedfault

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldio/herald/feed/server"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"
)

// serve runs a feed server with cfg on a loopback port until the test ends.
func serve(t *testing.T, cfg server.Config) (base string, stop func()) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg.JWTSecret, cfg.BcryptCost = testSecret, bcrypt.MinCost
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancelRun := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(runCtx, ln) }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancelRun()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("Serve did not return within 60s")
		}
	}
	t.Cleanup(stop)
	return "http://" + ln.Addr().String(), stop
}

// TestPostgresRestartUnderLoad stops the service's PostgreSQL (a private
// instance) while 8 writers create posts, first cleanly ("fast"), then as a
// crash ("immediate"), and starts it again. While it is away every answer
// is 503 with Retry-After; afterwards the service recovers by itself (the
// same process, no restart); every post answered 201 is in the database.
func TestPostgresRestartUnderLoad(t *testing.T) {
	pg := startPrivatePG(t)
	dataDir := t.TempDir()
	base, _ := serve(t, server.Config{DataDir: dataDir, DatabaseURL: pg.url()})
	c := newClient(base)
	token := c.login(t, "pgload@example.com")
	l := startLoad(c, token, 8)
	acked := 0
	for _, mode := range []string{"fast", "immediate"} {
		l.waitFor(t, "acks before the outage", 60*time.Second, func(_ map[int]int, n int) bool { return n >= acked+40 })
		before, _ := l.snapshot()
		down := time.Now()
		pg.stop(mode)
		l.waitFor(t, "503s while the database is away", 60*time.Second, func(c map[int]int, _ int) bool {
			return c[503] >= before[503]+20
		})
		_, ackedDown := l.snapshot()
		restarted := time.Now()
		pg.start()
		ready := time.Since(restarted)
		l.waitFor(t, "first ack after the restart", 60*time.Second, func(_ map[int]int, n int) bool { return n > ackedDown })
		recovered := time.Since(restarted)
		l.waitFor(t, "acks after the restart", 60*time.Second, func(_ map[int]int, n int) bool { return n >= ackedDown+40 })
		counts, n := l.snapshot()
		t.Logf("mode %s: database away %v (from the stop command to the start command); 503s during the outage %d; pg_ctl start took %v, first 201 %v after it began; answers so far %v",
			mode, restarted.Sub(down).Round(time.Millisecond), counts[503]-before[503], ready.Round(time.Millisecond),
			recovered.Round(time.Millisecond), counts)
		acked = n
	}
	ids := l.finish()
	counts, _ := l.snapshot()
	only(t, counts, 201, 503)
	verifyPostgres(t, pg.url(), dataDir, ids)
}

// verifyPostgres checks that every acknowledged post is in the database with
// its image file, and counts posts that committed although their request
// failed (the commit's answer was lost with the connection): those must
// still have their image file.
func verifyPostgres(t *testing.T, url, dataDir string, acked []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id, image_url FROM posts`)
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]string{}
	for rows.Next() {
		var id, img string
		if err := rows.Scan(&id, &img); err != nil {
			t.Fatal(err)
		}
		images[id] = img
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	verifyAcked(t, images, dataDir, acked)
}

// verifyAcked compares the stored posts (id to image URL) with the acked ids.
func verifyAcked(t *testing.T, images map[string]string, dataDir string, acked []string) {
	t.Helper()
	lost := 0
	for _, id := range acked {
		img, ok := images[id]
		if !ok {
			lost++
			t.Errorf("acknowledged post %s is not in the database", id)
			continue
		}
		if _, err := os.Stat(filepath.Join(dataDir, filepath.FromSlash(img))); err != nil {
			t.Errorf("acknowledged post %s: image %s: %v", id, img, err)
		}
	}
	ackedSet := map[string]bool{}
	for _, id := range acked {
		ackedSet[id] = true
	}
	var unacked, missingImage int
	for id, img := range images {
		if ackedSet[id] {
			continue
		}
		unacked++
		if _, err := os.Stat(filepath.Join(dataDir, filepath.FromSlash(img))); err != nil {
			missingImage++
		}
	}
	t.Logf("acknowledged %d, lost %d; stored without a 201 (commit outcome lost with the connection) %d, of which without their image file %d",
		len(acked), lost, unacked, missingImage)
	if missingImage > 0 {
		t.Errorf("%d stored posts refer to an image file that is gone", missingImage)
	}
}
