package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldio/herald/feed"
	"github.com/heraldio/herald/feed/sqlite"
	"github.com/heraldio/herald/feed/storetest"
)

func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) feed.Store {
		s := open(t, filepath.Join(t.TempDir(), "feed.db"))
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestReopen checks that migrations apply once and data survives a reopen.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "feed.db")
	s := open(t, path)
	now := feed.Now()
	u := &feed.User{ID: feed.NewID(), Email: "a@example.com", Password: "h", Name: "A", Status: feed.DefaultStatus, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	defer s.Close()
	if got, err := s.UserByEmail(context.Background(), "A@example.com"); err != nil || got.ID != u.ID {
		t.Fatalf("after reopen: %v, %v", got, err)
	}
}
