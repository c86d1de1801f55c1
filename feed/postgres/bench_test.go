package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldio/herald/feed"
	"github.com/heraldio/herald/feed/pgtest"
	"github.com/jackc/pgx/v5"
)

// benchPosts is how many posts BenchmarkListPosts100k lists from.
const benchPosts = 100_000

// BenchmarkListPosts100k lists pages of 2 (the contract's page size) from
// 100,000 posts in a schema of its own: the first page, a middle one and the
// last one. The posts are seeded in one statement before the sub-benchmarks,
// untimed, and the table is vacuumed and analyzed as autovacuum would have
// done on a table that size.
func BenchmarkListPosts100k(b *testing.B) {
	ctx := context.Background()
	url := pgtest.URL(b)
	s := open(b, url)
	defer s.Close()
	now := feed.Now()
	u := &feed.User{ID: feed.NewID(), Email: "bench@example.com", Password: "h", Name: "Bench",
		Status: feed.DefaultStatus, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	seedPosts(b, url, u.ID, benchPosts, now.Add(-benchPosts*time.Second))

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
// connection of its own, in one INSERT ... SELECT from generate_series, then
// vacuums and analyzes posts.
func seedPosts(tb testing.TB, url, creator string, n int, start time.Time) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO posts (id, title, content, image_url, creator_id, created_at, updated_at)
		SELECT lpad(to_hex(i), 24, '0'), 'title ' || i, 'content of post ' || i, 'images/' || i || '.png', $1,
			$2::timestamptz + i * interval '1 second', $2::timestamptz + i * interval '1 second'
		FROM generate_series(1, $3::int) AS i`, creator, start, n); err != nil {
		tb.Fatalf("seed %d posts: %v", n, err)
	}
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE posts`); err != nil {
		tb.Fatalf("vacuum: %v", err)
	}
}
