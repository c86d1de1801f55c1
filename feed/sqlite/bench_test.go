package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldio/herald/feed"
)

// benchPosts is how many posts BenchmarkListPosts100k lists from.
const benchPosts = 100_000

// BenchmarkListPosts100k lists pages of 2 (the contract's page size) from
// 100,000 posts: the first page, a middle one and the last one. The posts
// are seeded in one statement before the sub-benchmarks, untimed.
func BenchmarkListPosts100k(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "feed.db")
	s := open(b, path)
	defer s.Close()
	now := feed.Now()
	u := &feed.User{ID: feed.NewID(), Email: "bench@example.com", Password: "h", Name: "Bench",
		Status: feed.DefaultStatus, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	seedPosts(b, path, u.ID, benchPosts, now.Add(-benchPosts*time.Second))

	for _, page := range []struct {
		name   string
		offset int
	}{{"first", 0}, {"middle", benchPosts / 2}, {"last", benchPosts - 2}} {
		b.Run(page.name, func(b *testing.B) {
			posts, total, err := s.Posts(ctx, page.offset, 2)
			if err != nil || total != benchPosts || len(posts) != 2 {
				b.Fatalf("Posts(%d, 2) = %d posts, total %d, %v; want 2, %d", page.offset, len(posts), total, err, benchPosts)
			}
			for b.Loop() {
				if _, _, err := s.Posts(ctx, page.offset, 2); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// seedPosts inserts n posts by creator, one a second from start, through a
// connection of its own, in one INSERT ... SELECT from a recursive CTE.
func seedPosts(tb testing.TB, path, creator string, n int, start time.Time) {
	tb.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `INSERT INTO posts (id, title, content, image_url, creator_id, created_at, updated_at)
		WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
		SELECT printf('%024x', i), 'title ' || i, 'content of post ' || i, 'images/' || i || '.png', ?,
			? + i * 1000, ? + i * 1000
		FROM seq`, n, creator, start.UnixMilli(), start.UnixMilli()); err != nil {
		tb.Fatalf("seed %d posts: %v", n, err)
	}
}
