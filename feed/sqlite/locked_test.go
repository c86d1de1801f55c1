package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/heraldio/herald/feed"
	"github.com/heraldio/herald/feed/sqlite"
)

// TestLockedByAnotherConnection holds the file locked from another
// connection (BEGIN EXCLUSIVE, as another process would) while 6 writes
// run at once: each fails with feed.ErrUnavailable, none hangs behind the
// others past its own bound; reads go on; after the lock is released a
// write succeeds. The busy timeout is 200ms here, the write timeout 400ms.
func TestLockedByAnotherConnection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "feed.db")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := sqlite.OpenWith(ctx, path, &sqlite.Options{BusyTimeout: 200 * time.Millisecond, WriteTimeout: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	newUser := func(email string) *feed.User {
		now := feed.Now()
		return &feed.User{ID: feed.NewID(), Email: email, Password: "h", Name: "N", Status: feed.DefaultStatus, CreatedAt: now, UpdatedAt: now}
	}
	first := newUser("first@example.com")
	if err := s.CreateUser(ctx, first); err != nil {
		t.Fatal(err)
	}

	other, err := sql.Open("sqlite", "file:"+path)
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
		t.Fatal(err)
	}
	// Take the write lock for real: in WAL mode, BEGIN EXCLUSIVE takes it
	// at the first write.
	if _, err := holder.ExecContext(ctx, "UPDATE users SET status = status"); err != nil {
		t.Fatal(err)
	}

	errs := make([]error, 6)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			switch i % 3 {
			case 0:
				errs[i] = s.CreateUser(ctx, newUser("u"+feed.NewID()+"@example.com"))
			case 1:
				errs[i] = s.SetStatus(ctx, first.ID, "busy", feed.Now())
			case 2:
				errs[i] = s.CreatePost(ctx, &feed.Post{ID: feed.NewID(), Title: "Title", Content: "Content", ImageURL: "images/x.png",
					Creator: feed.Creator{ID: first.ID}, CreatedAt: feed.Now(), UpdatedAt: feed.Now()})
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, feed.ErrUnavailable) {
			t.Errorf("write %d under the lock: %v, want ErrUnavailable", i, err)
		}
	}
	if _, err := s.UserByID(ctx, first.ID); err != nil {
		t.Errorf("read under the lock: %v", err)
	}

	if _, err := holder.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStatus(ctx, first.ID, "free", feed.Now()); err != nil {
		t.Fatalf("write after the release: %v", err)
	}
	if u, err := s.UserByID(ctx, first.ID); err != nil || u.Status != "free" {
		t.Fatalf("after the release: %+v, %v", u, err)
	}
}
