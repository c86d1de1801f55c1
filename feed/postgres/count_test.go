package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/heraldio/herald/feed"
	"github.com/heraldio/herald/feed/pgtest"
	"github.com/heraldio/herald/feed/postgres"
	"github.com/jackc/pgx/v5"
)

// rawConn connects to url on a connection of its own, bypassing the store.
func rawConn(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// wantTotal checks the total and the number of posts s lists.
func wantTotal(t *testing.T, s *postgres.Store, want int) {
	t.Helper()
	posts, total, err := s.Posts(context.Background(), 0, 10_000)
	if err != nil {
		t.Fatalf("Posts: %v", err)
	}
	if total != want || len(posts) != want {
		t.Errorf("total %d, %d posts listed; want %d", total, len(posts), want)
	}
}

// insertPosts is a statement inserting $2 posts by the user with id $1,
// bypassing the store.
const insertPosts = `INSERT INTO posts (id, title, content, image_url, creator_id, created_at, updated_at)
	SELECT md5(random()::text || i), 'raw ' || i, 'c', 'images/x.png', $1, now(), now()
	FROM generate_series(1, $2::int) AS i`

// atVersion1 builds, in a fresh schema, the database migration 1 left, as an
// earlier version of the store would have, with a user "u1" and n posts by
// it; it returns the schema's URL.
func atVersion1(t *testing.T, n int) string {
	t.Helper()
	ctx := context.Background()
	url := pgtest.URL(t)
	conn := rawConn(t, url)
	v1, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
		string(v1),
		`INSERT INTO schema_migrations (version) VALUES (1)`,
		`INSERT INTO users (id, email, password, name, created_at, updated_at) VALUES ('u1', 'old@example.com', 'h', 'Old', now(), now())`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	if _, err := tx.Exec(ctx, insertPosts, "u1", n); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return url
}

// TestMigrationCountsExistingPosts checks that Open's migration to the kept
// count starts from the posts already there and that the triggers keep it
// from there, through the store and through bulk statements.
func TestMigrationCountsExistingPosts(t *testing.T) {
	ctx := context.Background()
	url := atVersion1(t, 1000)
	s := open(t, url)
	wantTotal(t, s, 1000)
	p := &feed.Post{ID: feed.NewID(), Title: "new", Content: "c", ImageURL: "images/n.png",
		Creator: feed.Creator{ID: "u1"}, CreatedAt: feed.Now(), UpdatedAt: feed.Now()}
	if err := s.CreatePost(ctx, p); err != nil {
		t.Fatal(err)
	}
	wantTotal(t, s, 1001)
	s.Close()
	// A second Open applies nothing again.
	s = open(t, url)
	defer s.Close()
	wantTotal(t, s, 1001)

	conn := rawConn(t, url)
	if _, err := conn.Exec(ctx, `DELETE FROM posts WHERE id IN (SELECT id FROM posts WHERE id <> $1 LIMIT 250)`, p.ID); err != nil {
		t.Fatal(err)
	}
	wantTotal(t, s, 751)
	if _, err := s.DeletePost(ctx, "u1", p.ID); err != nil {
		t.Fatal(err)
	}
	wantTotal(t, s, 750)
	if _, err := conn.Exec(ctx, `TRUNCATE posts`); err != nil {
		t.Fatal(err)
	}
	wantTotal(t, s, 0)
	if _, err := conn.Exec(ctx, insertPosts, "u1", 3); err != nil {
		t.Fatal(err)
	}
	wantTotal(t, s, 3)
}

// TestMigrationWaitsForWriters starts the migration while another
// transaction (an instance of the previous version, say) has inserted a post
// and not committed yet: the migration must wait for it and count it, not
// count without it and then miss it.
func TestMigrationWaitsForWriters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := atVersion1(t, 10)
	writer := rawConn(t, url)
	tx, err := writer.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, insertPosts, "u1", 1); err != nil {
		t.Fatal(err)
	}

	var s *postgres.Store
	var openErr error
	opened := make(chan struct{})
	go func() {
		defer close(opened)
		s, openErr = postgres.Open(ctx, url)
	}()
	defer func() {
		cancel() // Open gives up if it still waits
		<-opened
		if openErr == nil {
			s.Close()
		}
	}()
	// Wait until the migration waits for a lock on posts.
	watcher := rawConn(t, url)
	for {
		var waiting bool
		if err := watcher.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE relation = 'posts'::regclass AND NOT granted)`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case <-opened:
			t.Fatalf("Open returned (%v) while a write to posts was in progress", openErr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	<-opened
	if openErr != nil {
		t.Fatal(openErr)
	}
	wantTotal(t, s, 11)
}

// TestCountRollback writes to posts behind the store's back in a
// transaction that rolls back, and in a statement that fails after
// inserting rows: the total is as before.
func TestCountRollback(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s := open(t, url)
	defer s.Close()
	now := feed.Now()
	u := &feed.User{ID: feed.NewID(), Email: "r@example.com", Password: "h", Name: "R", Status: feed.DefaultStatus, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	conn := rawConn(t, url)
	if _, err := conn.Exec(ctx, insertPosts, u.ID, 3); err != nil {
		t.Fatal(err)
	}
	wantTotal(t, s, 3)

	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, insertPosts, u.ID, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM posts WHERE id IN (SELECT id FROM posts LIMIT 4)`); err != nil {
		t.Fatal(err)
	}
	var inTx int
	if err := tx.QueryRow(ctx, `SELECT sum(n)::int FROM post_counts`).Scan(&inTx); err != nil || inTx != 1 {
		t.Errorf("total inside the transaction = %d, %v; want 1", inTx, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wantTotal(t, s, 3)

	// The last row's id is taken: the statement fails after the first rows
	// went in, and is undone as a whole.
	var taken string
	if err := conn.QueryRow(ctx, `SELECT id FROM posts LIMIT 1`).Scan(&taken); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO posts (id, title, content, image_url, creator_id, created_at, updated_at)
		VALUES ($1, 't', 'c', 'i', $3, now(), now()), ($2, 't', 'c', 'i', $3, now(), now())`,
		feed.NewID(), taken, u.ID); err == nil {
		t.Fatal("insert of a taken id succeeded")
	}
	wantTotal(t, s, 3)
}

// TestCountSlotsDoNotSerialize holds a transaction that has inserted a post
// open on one connection: an insert on a connection of another count slot
// commits meanwhile, instead of waiting for the count's row lock (as it
// would with one counter row).
func TestCountSlotsDoNotSerialize(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := atVersion1(t, 0)
	s := open(t, url)
	defer s.Close()
	slot := func(conn *pgx.Conn) int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, `SELECT pg_backend_pid() % 16`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	holder := rawConn(t, url)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, insertPosts, "u1", 1); err != nil {
		t.Fatal(err)
	}
	other := rawConn(t, url)
	for slot(other) == slot(holder) {
		other = rawConn(t, url)
	}
	if _, err := other.Exec(ctx, `SET lock_timeout = '5s'`); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, insertPosts, "u1", 1); err != nil {
		t.Fatalf("insert while another is uncommitted: %v", err)
	}
	wantTotal(t, s, 1)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wantTotal(t, s, 2)
}
