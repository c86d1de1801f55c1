package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldio/herald/feed"
	"github.com/heraldio/herald/feed/sqlite"
)

// rawDB opens the database file at path on a connection of its own,
// bypassing the store.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// wantTotal checks the total and the number of posts s lists.
func wantTotal(t *testing.T, s *sqlite.Store, want int) {
	t.Helper()
	posts, total, err := s.Posts(context.Background(), 0, 1000)
	if err != nil {
		t.Fatalf("Posts: %v", err)
	}
	if total != want || len(posts) != want {
		t.Errorf("total %d, %d posts listed; want %d", total, len(posts), want)
	}
}

// insertPosts inserts n posts by creator through ex, bypassing the store.
func insertPosts(ctx context.Context, ex interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, creator string, n int) error {
	now := time.Now().UnixMilli()
	for i := range n {
		if _, err := ex.ExecContext(ctx, `INSERT INTO posts (id, title, content, image_url, creator_id, created_at, updated_at)
			VALUES (?, ?, 'c', 'images/x.png', ?, ?, ?)`, feed.NewID(), fmt.Sprint("raw ", i), creator, now, now); err != nil {
			return fmt.Errorf("insert post %d: %w", i, err)
		}
	}
	return nil
}

// TestMigrationCountsExistingPosts builds a database at migration 1, as an
// earlier version left it, with posts in it, and checks that Open's
// migration to the kept count starts from them and that the triggers keep
// it from there.
func TestMigrationCountsExistingPosts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "feed.db")
	db := rawDB(t, path)
	v1, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`,
		string(v1),
		`INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0)`,
		`INSERT INTO users (id, email, password, name, created_at, updated_at) VALUES ('u1', 'old@example.com', 'h', 'Old', 0, 0)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	if err := insertPosts(ctx, db, "u1", 7); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM posts WHERE id IN (SELECT id FROM posts LIMIT 2)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := open(t, path)
	wantTotal(t, s, 5)
	p := &feed.Post{ID: feed.NewID(), Title: "new", Content: "c", ImageURL: "images/n.png",
		Creator: feed.Creator{ID: "u1"}, CreatedAt: feed.Now(), UpdatedAt: feed.Now()}
	if err := s.CreatePost(ctx, p); err != nil {
		t.Fatal(err)
	}
	wantTotal(t, s, 6)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened, the migration is not applied again.
	s = open(t, path)
	defer s.Close()
	wantTotal(t, s, 6)
	if _, err := s.DeletePost(ctx, "u1", p.ID); err != nil {
		t.Fatal(err)
	}
	wantTotal(t, s, 5)
}

// TestCountRollback writes to posts behind the store's back in a
// transaction that rolls back, and in a statement that fails after
// inserting a row: the total is as before.
func TestCountRollback(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "feed.db")
	s := open(t, path)
	defer s.Close()
	now := feed.Now()
	u := &feed.User{ID: feed.NewID(), Email: "r@example.com", Password: "h", Name: "R", Status: feed.DefaultStatus, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	if err := insertPosts(ctx, db, u.ID, 3); err != nil {
		t.Fatal(err)
	}
	wantTotal(t, s, 3)

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := insertPosts(ctx, tx, u.ID, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM posts WHERE id IN (SELECT id FROM posts LIMIT 4)`); err != nil {
		t.Fatal(err)
	}
	var inTx int
	if err := tx.QueryRowContext(ctx, `SELECT total FROM post_stats`).Scan(&inTx); err != nil || inTx != 1 {
		t.Errorf("total inside the transaction = %d, %v; want 1", inTx, err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	wantTotal(t, s, 3)

	// The second row's id is taken: the statement fails after the first
	// row (and its trigger) went in, and is undone as a whole.
	var taken string
	if err := db.QueryRowContext(ctx, `SELECT id FROM posts LIMIT 1`).Scan(&taken); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO posts (id, title, content, image_url, creator_id, created_at, updated_at)
		VALUES (?, 't', 'c', 'i', ?, 0, 0), (?, 't', 'c', 'i', ?, 0, 0)`, feed.NewID(), u.ID, taken, u.ID); err == nil {
		t.Fatal("insert of a taken id succeeded")
	}
	wantTotal(t, s, 3)
}
