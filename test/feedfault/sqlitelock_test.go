package feedfault

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldio/herald/feed"
	"github.com/heraldio/herald/feed/httpapi"
	"github.com/heraldio/herald/feed/sqlite"
	"golang.org/x/crypto/bcrypt"
	_ "modernc.org/sqlite"
)

// TestSQLiteLockedUnderLoad holds the service's SQLite file locked from
// another connection (BEGIN EXCLUSIVE, as another process would) while 8
// writers create posts. Writes answer 503 with Retry-After once the busy
// timeout (1s here) has passed, or the write timeout (2s) for those queued
// behind another write, rather than queueing for a busy timeout each or
// answering 500; reads still answer (WAL mode); once the lock is released
// the writes succeed again, and every post answered 201 is stored.
func TestSQLiteLockedUnderLoad(t *testing.T) {
	const busy = time.Second
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "feed.db")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store, err := sqlite.OpenWith(ctx, dbPath, &sqlite.Options{BusyTimeout: busy, WriteTimeout: 2 * busy})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	h, err := httpapi.New(httpapi.Options{
		Service:   feed.NewService(store, &feed.ServiceOptions{BcryptCost: bcrypt.MinCost}),
		Secret:    []byte(testSecret),
		ImagesDir: filepath.Join(dir, "images"),
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := newClient(srv.URL)
	token := c.login(t, "lock@example.com")
	l := startLoad(c, token, 8)
	l.waitFor(t, "acks before the lock", time.Minute, func(_ map[int]int, n int) bool { return n >= 40 })

	// The other connection, from the driver directly: a separate
	// connection to the same file, like another process.
	other, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(30000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	holder, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatalf("BEGIN EXCLUSIVE: %v", err)
	}
	if _, err := holder.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)"); err != nil {
		t.Fatalf("write under the lock: %v", err)
	}
	locked := time.Now()
	before, ackedLocked := l.snapshot()
	l.waitFor(t, "503s while the file is locked", time.Minute, func(c map[int]int, _ int) bool { return c[503] >= before[503]+16 })
	// Reads go on: WAL readers do not wait for the writer's lock.
	req, _ := http.NewRequest("GET", srv.URL+"/feed/posts", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("read while locked: %d, want 200", res.StatusCode)
	}
	during, ackedDuring := l.snapshot()
	if ackedDuring != ackedLocked {
		// A write that had taken the lock before BEGIN EXCLUSIVE may finish;
		// none can start after it.
		t.Logf("%d writes committed around the moment of locking", ackedDuring-ackedLocked)
	}
	if _, err := holder.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatalf("ROLLBACK: %v", err)
	}
	released := time.Now()
	l.waitFor(t, "acks after the release", time.Minute, func(_ map[int]int, n int) bool { return n >= ackedDuring+40 })
	recovered := time.Since(released)
	ids := l.finish()
	counts, _ := l.snapshot()
	only(t, counts, 201, 503)
	t.Logf("locked %v: %d answers 503 (slowest 503 took %v; busy timeout %v, write timeout %v); 40 more acks within %v of the release; all answers %v",
		released.Sub(locked).Round(time.Millisecond), during[503]-before[503], l.slowestAnswer(503).Round(time.Millisecond),
		busy, 2*busy, recovered.Round(time.Millisecond), counts)

	images := map[string]string{}
	rows, err := other.QueryContext(ctx, "SELECT id, image_url FROM posts")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, img string
		if err := rows.Scan(&id, &img); err != nil {
			t.Fatal(err)
		}
		images[id] = img
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	verifyAcked(t, images, dir, ids)
}
