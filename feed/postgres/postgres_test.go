package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/heraldio/herald/feed"
	"github.com/heraldio/herald/feed/pgtest"
	"github.com/heraldio/herald/feed/postgres"
	"github.com/heraldio/herald/feed/storetest"
)

func open(t testing.TB, url string) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) feed.Store {
		s := open(t, pgtest.URL(t))
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestMigrateTwice checks that a second instance starting on a migrated
// database applies nothing and sees the data.
func TestMigrateTwice(t *testing.T) {
	url := pgtest.URL(t)
	a := open(t, url)
	defer a.Close()
	now := feed.Now()
	u := &feed.User{ID: feed.NewID(), Email: "a@example.com", Password: "h", Name: "A", Status: feed.DefaultStatus, CreatedAt: now, UpdatedAt: now}
	if err := a.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	b := open(t, url)
	defer b.Close()
	if got, err := b.UserByID(context.Background(), u.ID); err != nil || got.Email != "a@example.com" {
		t.Fatalf("second instance: %v, %v", got, err)
	}
}

// TestUnavailable checks that a database that cannot be reached is reported
// as feed.ErrUnavailable.
func TestUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Port 1 on loopback refuses connections.
	_, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/test?connect_timeout=5")
	if !errors.Is(err, feed.ErrUnavailable) {
		t.Fatalf("Open on a closed port = %v, want ErrUnavailable", err)
	}
}
