package feedfault

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldio/herald/feed/server"
	"github.com/heraldio/herald/feed/sqlite"
)

// TestShutdownUnderLoad cancels Serve's context (what SIGTERM does in
// herald serve) while 16 writers create posts. Requests in flight finish;
// later ones fail to connect (never a 5xx); after Serve returns, every post
// answered 201 is in the database, with its image. A request sent on a
// keep-alive connection just as the server closes it may fail in transport
// (the usual HTTP race; the client gets no answer, and the check below
// shows such a write was not stored either).
func TestShutdownUnderLoad(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			dataDir := t.TempDir()
			cfg := server.Config{DataDir: dataDir}
			var pg *privatePG
			if kind == "postgres" {
				pg = startPrivatePG(t)
				cfg.DatabaseURL = pg.url()
			}
			base, stop := serve(t, cfg)
			c := newClient(base)
			token := c.login(t, "shutdown@example.com")
			l := startLoad(c, token, 16)
			l.waitFor(t, "acks before the shutdown", time.Minute, func(_ map[int]int, n int) bool { return n >= 60 })
			stopping := time.Now()
			stop() // returns once Serve has returned: requests drained, store closed
			took := time.Since(stopping)
			ids := l.finish()
			counts, _ := l.snapshot()
			only(t, counts, 201, -1, 0)
			t.Logf("%s: shutdown took %v under 16 writers; answers %v (-1 = connection refused after the listener closed, 0 = other transport error)",
				kind, took.Round(time.Millisecond), counts)
			if kind == "postgres" {
				verifyPostgres(t, pg.url(), dataDir, ids)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			store, err := sqlite.Open(ctx, filepath.Join(dataDir, "feed.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			images := map[string]string{}
			for _, id := range ids {
				if p, err := store.Post(ctx, id); err == nil {
					images[id] = p.ImageURL
				}
			}
			_, total, err := store.Posts(ctx, 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			verifyAcked(t, images, dataDir, ids)
			if total != len(ids) {
				t.Logf("stored %d posts, acknowledged %d", total, len(ids))
			}
		})
	}
}
