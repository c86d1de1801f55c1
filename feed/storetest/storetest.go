// Package storetest is the behaviour suite every feed.Store implementation
// must pass. Each store's tests call Run with a constructor of fresh, empty
// stores.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldio/herald/feed"
)

// Run runs the suite; newStore returns an empty store that is closed when the
// test ends.
func Run(t *testing.T, newStore func(t *testing.T) feed.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s feed.Store)
	}{
		{"Users", testUsers},
		{"Status", testStatus},
		{"CreatePost", testCreatePost},
		{"PostsOrderAndPaging", testPosts},
		{"UpdatePost", testUpdatePost},
		{"DeletePost", testDeletePost},
		{"ConcurrentWriters", testConcurrent},
		{"TotalItems", testTotalItems},
		{"InjectionLookingInput", testInjectionLookingInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newUser(t *testing.T, s feed.Store, email, name string) *feed.User {
	t.Helper()
	now := feed.Now()
	u := &feed.User{ID: feed.NewID(), Email: email, Password: "$2a$04$hash", Name: name,
		Status: feed.DefaultStatus, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateUser(ctxT(t), u); err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u
}

func newPost(t *testing.T, s feed.Store, creator *feed.User, title string, at time.Time) *feed.Post {
	t.Helper()
	p := &feed.Post{ID: feed.NewID(), Title: title, Content: "content of " + title, ImageURL: "images/" + title + ".png",
		Creator: feed.Creator{ID: creator.ID}, CreatedAt: at, UpdatedAt: at}
	if err := s.CreatePost(ctxT(t), p); err != nil {
		t.Fatalf("CreatePost(%s): %v", title, err)
	}
	return p
}

func testUsers(t *testing.T, s feed.Store) {
	ctx := ctxT(t)
	u := newUser(t, s, "Ada@Example.COM", "Ada")
	got, err := s.UserByEmail(ctx, "ada@example.com")
	if err != nil {
		t.Fatalf("UserByEmail: %v", err)
	}
	if got.ID != u.ID || got.Email != "ada@example.com" || got.Name != "Ada" || got.Password != u.Password ||
		got.Status != feed.DefaultStatus || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("UserByEmail = %+v, want %+v with the email lower-cased", got, u)
	}
	if got, err := s.UserByEmail(ctx, "ADA@example.com"); err != nil || got.ID != u.ID {
		t.Errorf("UserByEmail upper case = %v, %v; want the user", got, err)
	}
	if got, err := s.UserByID(ctx, u.ID); err != nil || got.Email != "ada@example.com" {
		t.Errorf("UserByID = %v, %v", got, err)
	}
	dup := &feed.User{ID: feed.NewID(), Email: "ADA@example.com", Password: "x", Name: "Other",
		Status: feed.DefaultStatus, CreatedAt: feed.Now(), UpdatedAt: feed.Now()}
	if err := s.CreateUser(ctx, dup); !errors.Is(err, feed.ErrEmailTaken) {
		t.Errorf("CreateUser with a taken email (other case) = %v, want ErrEmailTaken", err)
	}
	if _, err := s.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, feed.ErrNotFound) {
		t.Errorf("UserByEmail(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.UserByID(ctx, feed.NewID()); !errors.Is(err, feed.ErrNotFound) {
		t.Errorf("UserByID(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func testStatus(t *testing.T, s feed.Store) {
	ctx := ctxT(t)
	u := newUser(t, s, "status@example.com", "S")
	if err := s.SetStatus(ctx, u.ID, "Busy", feed.Now()); err != nil {
		t.Fatalf("SetStatus: %v", err)
	}
	if got, err := s.UserByID(ctx, u.ID); err != nil || got.Status != "Busy" {
		t.Errorf("after SetStatus, user = %+v, %v; want status Busy", got, err)
	}
	if err := s.SetStatus(ctx, feed.NewID(), "x", feed.Now()); !errors.Is(err, feed.ErrNotFound) {
		t.Errorf("SetStatus(unknown) = %v, want ErrNotFound", err)
	}
}

func testCreatePost(t *testing.T, s feed.Store) {
	ctx := ctxT(t)
	u := newUser(t, s, "writer@example.com", "Writer")
	at := feed.Now()
	p := newPost(t, s, u, "first", at)
	if p.Creator.Name != "Writer" {
		t.Errorf("CreatePost filled creator name %q, want Writer", p.Creator.Name)
	}
	got, err := s.Post(ctx, p.ID)
	if err != nil {
		t.Fatalf("Post: %v", err)
	}
	if got.ID != p.ID || got.Title != "first" || got.Content != "content of first" || got.ImageURL != "images/first.png" ||
		got.Creator != (feed.Creator{ID: u.ID, Name: "Writer"}) || !got.CreatedAt.Equal(at) || !got.UpdatedAt.Equal(at) {
		t.Errorf("Post = %+v, want %+v", got, p)
	}
	if feed.FormatTime(got.CreatedAt) != feed.FormatTime(at) {
		t.Errorf("createdAt round trip %s, want %s", feed.FormatTime(got.CreatedAt), feed.FormatTime(at))
	}
	orphan := &feed.Post{ID: feed.NewID(), Title: "orphan", Content: "c", ImageURL: "images/x.png",
		Creator: feed.Creator{ID: feed.NewID()}, CreatedAt: at, UpdatedAt: at}
	if err := s.CreatePost(ctx, orphan); !errors.Is(err, feed.ErrNotFound) {
		t.Errorf("CreatePost by an unknown user = %v, want ErrNotFound", err)
	}
	if _, err := s.Post(ctx, feed.NewID()); !errors.Is(err, feed.ErrNotFound) {
		t.Errorf("Post(unknown) = %v, want ErrNotFound", err)
	}
}

func testPosts(t *testing.T, s feed.Store) {
	ctx := ctxT(t)
	u := newUser(t, s, "lister@example.com", "L")
	if posts, total, err := s.Posts(ctx, 0, 2); err != nil || total != 0 || len(posts) != 0 {
		t.Fatalf("Posts on an empty store = %v, %d, %v", posts, total, err)
	}
	base := time.Date(2026, 11, 25, 17, 3, 21, 123e6, time.UTC)
	var want []string // newest first
	// Three posts share one createdAt: the id breaks the tie, descending.
	tie := []*feed.Post{newPost(t, s, u, "tie-a", base), newPost(t, s, u, "tie-b", base), newPost(t, s, u, "tie-c", base)}
	older := newPost(t, s, u, "older", base.Add(-time.Second))
	newer := newPost(t, s, u, "newer", base.Add(time.Millisecond))
	want = append(want, newer.ID)
	ids := []string{tie[0].ID, tie[1].ID, tie[2].ID}
	for i := range ids { // sort descending
		for j := i + 1; j < len(ids); j++ {
			if ids[j] > ids[i] {
				ids[i], ids[j] = ids[j], ids[i]
			}
		}
	}
	want = append(want, ids...)
	want = append(want, older.ID)

	var got []string
	for offset := 0; offset < 6; offset += 2 {
		posts, total, err := s.Posts(ctx, offset, 2)
		if err != nil {
			t.Fatalf("Posts(%d, 2): %v", offset, err)
		}
		if total != 5 {
			t.Errorf("Posts(%d, 2) total = %d, want 5", offset, total)
		}
		if wantLen := min(2, 5-offset); len(posts) != wantLen {
			t.Errorf("Posts(%d, 2) returned %d posts, want %d", offset, len(posts), wantLen)
		}
		for _, p := range posts {
			got = append(got, p.ID)
			if p.Creator.Name != "L" || p.Creator.ID != u.ID {
				t.Errorf("post %s creator = %+v", p.ID, p.Creator)
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("order = %v, want %v", got, want)
	}
	if posts, total, err := s.Posts(ctx, 100, 2); err != nil || total != 5 || len(posts) != 0 {
		t.Errorf("Posts past the end = %d posts, total %d, %v; want none, 5", len(posts), total, err)
	}
}

func testUpdatePost(t *testing.T, s feed.Store) {
	ctx := ctxT(t)
	owner := newUser(t, s, "owner@example.com", "Owner")
	other := newUser(t, s, "other@example.com", "Other")
	p := newPost(t, s, owner, "orig", feed.Now())
	later := p.CreatedAt.Add(5 * time.Second)

	got, old, err := s.UpdatePost(ctx, owner.ID, feed.PostUpdate{ID: p.ID, Title: "new title", Content: "new content", UpdatedAt: later})
	if err != nil {
		t.Fatalf("UpdatePost keeping the image: %v", err)
	}
	if old != p.ImageURL || got.ImageURL != p.ImageURL || got.Title != "new title" || got.Content != "new content" ||
		!got.UpdatedAt.Equal(later) || !got.CreatedAt.Equal(p.CreatedAt) || got.Creator.Name != "Owner" {
		t.Errorf("UpdatePost = %+v, old %q", got, old)
	}
	got, old, err = s.UpdatePost(ctx, owner.ID, feed.PostUpdate{ID: p.ID, Title: "t2", Content: "c2", ImageURL: "images/new.png", UpdatedAt: later})
	if err != nil || old != p.ImageURL || got.ImageURL != "images/new.png" {
		t.Errorf("UpdatePost with a new image = %+v, old %q, %v", got, old, err)
	}
	_, _, err = s.UpdatePost(ctx, other.ID, feed.PostUpdate{ID: p.ID, Title: "hacked", Content: "hacked", UpdatedAt: later})
	if !errors.Is(err, feed.ErrForbidden) {
		t.Errorf("UpdatePost by another user = %v, want ErrForbidden", err)
	}
	if cur, err := s.Post(ctx, p.ID); err != nil || cur.Title != "t2" {
		t.Errorf("after a forbidden update the post is %+v, %v; want it unchanged", cur, err)
	}
	_, _, err = s.UpdatePost(ctx, owner.ID, feed.PostUpdate{ID: feed.NewID(), Title: "x", Content: "y", UpdatedAt: later})
	if !errors.Is(err, feed.ErrNotFound) {
		t.Errorf("UpdatePost(unknown) = %v, want ErrNotFound", err)
	}
}

func testDeletePost(t *testing.T, s feed.Store) {
	ctx := ctxT(t)
	owner := newUser(t, s, "del@example.com", "Del")
	other := newUser(t, s, "nodel@example.com", "NoDel")
	p := newPost(t, s, owner, "doomed", feed.Now())
	if _, err := s.DeletePost(ctx, other.ID, p.ID); !errors.Is(err, feed.ErrForbidden) {
		t.Errorf("DeletePost by another user = %v, want ErrForbidden", err)
	}
	got, err := s.DeletePost(ctx, owner.ID, p.ID)
	if err != nil || got.ID != p.ID || got.ImageURL != p.ImageURL {
		t.Fatalf("DeletePost = %+v, %v", got, err)
	}
	if _, err := s.Post(ctx, p.ID); !errors.Is(err, feed.ErrNotFound) {
		t.Errorf("Post after delete = %v, want ErrNotFound", err)
	}
	if _, err := s.DeletePost(ctx, owner.ID, p.ID); !errors.Is(err, feed.ErrNotFound) {
		t.Errorf("second DeletePost = %v, want ErrNotFound", err)
	}
	if _, total, err := s.Posts(ctx, 0, 10); err != nil || total != 0 {
		t.Errorf("total after delete = %d, %v; want 0", total, err)
	}
}

// testConcurrent has writers create, update and delete at once: every
// successful create that was not deleted is listed once, and the total is
// exact.
func testConcurrent(t *testing.T, s feed.Store) {
	ctx := ctxT(t)
	const writers, each = 8, 10
	users := make([]*feed.User, writers)
	for i := range users {
		users[i] = newUser(t, s, fmt.Sprintf("w%d@example.com", i), fmt.Sprintf("W%d", i))
	}
	var mu sync.Mutex
	kept := map[string]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				now := feed.Now()
				p := &feed.Post{ID: feed.NewID(), Title: "t", Content: "c", ImageURL: "images/i.png",
					Creator: feed.Creator{ID: users[i].ID}, CreatedAt: now, UpdatedAt: now}
				if err := s.CreatePost(ctx, p); err != nil {
					errs <- err
					return
				}
				if _, _, err := s.UpdatePost(ctx, users[i].ID, feed.PostUpdate{ID: p.ID, Title: "t2", Content: "c2", UpdatedAt: feed.Now()}); err != nil {
					errs <- err
					return
				}
				if j%3 == 0 {
					if _, err := s.DeletePost(ctx, users[i].ID, p.ID); err != nil {
						errs <- err
						return
					}
					continue
				}
				mu.Lock()
				kept[p.ID] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent write: %v", err)
	}
	posts, total, err := s.Posts(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if total != len(kept) || len(posts) != len(kept) {
		t.Errorf("total %d, listed %d, want %d", total, len(posts), len(kept))
	}
	seen := map[string]bool{}
	for _, p := range posts {
		if !kept[p.ID] || seen[p.ID] || p.Title != "t2" {
			t.Errorf("unexpected or duplicated post %+v", p)
		}
		seen[p.ID] = true
	}
}

// testTotalItems follows the total Posts reports through creates and
// deletes, failed ones included (they must leave it unchanged), concurrent
// creates, and concurrent deletes, some racing for the same post: it is
// always the number of posts listed.
func testTotalItems(t *testing.T, s feed.Store) {
	ctx := ctxT(t)
	owner := newUser(t, s, "counted@example.com", "Counted")
	other := newUser(t, s, "notowner@example.com", "NotOwner")
	check := func(when string, want int) {
		t.Helper()
		posts, total, err := s.Posts(ctx, 0, 1000)
		if err != nil {
			t.Fatalf("%s: Posts: %v", when, err)
		}
		if total != want || len(posts) != want {
			t.Errorf("%s: total %d, %d posts listed; want %d", when, total, len(posts), want)
		}
	}
	check("empty", 0)
	var posts []*feed.Post
	for i := range 3 {
		posts = append(posts, newPost(t, s, owner, fmt.Sprintf("counted-%d", i), feed.Now()))
	}
	check("after 3 creates", 3)

	orphan := &feed.Post{ID: feed.NewID(), Title: "orphan", Content: "c", ImageURL: "images/x.png",
		Creator: feed.Creator{ID: feed.NewID()}, CreatedAt: feed.Now(), UpdatedAt: feed.Now()}
	if err := s.CreatePost(ctx, orphan); !errors.Is(err, feed.ErrNotFound) {
		t.Errorf("CreatePost by an unknown user = %v, want ErrNotFound", err)
	}
	check("after a create by an unknown user", 3)
	// A create that fails on the insert itself: its transaction rolls back.
	dup := *posts[0]
	dup.Title = "duplicate"
	if err := s.CreatePost(ctx, &dup); err == nil {
		t.Errorf("CreatePost with the id of another post succeeded")
	}
	check("after a create with an id in use", 3)
	if p, err := s.Post(ctx, posts[0].ID); err != nil || p.Title != posts[0].Title {
		t.Errorf("after a create with its id, the post is %+v, %v; want it unchanged", p, err)
	}
	if _, _, err := s.UpdatePost(ctx, owner.ID, feed.PostUpdate{ID: posts[1].ID, Title: "t", Content: "c", UpdatedAt: feed.Now()}); err != nil {
		t.Errorf("UpdatePost: %v", err)
	}
	check("after an update", 3)

	if _, err := s.DeletePost(ctx, owner.ID, posts[0].ID); err != nil {
		t.Errorf("DeletePost: %v", err)
	}
	check("after a delete", 2)
	if _, err := s.DeletePost(ctx, owner.ID, posts[0].ID); !errors.Is(err, feed.ErrNotFound) {
		t.Errorf("DeletePost of a deleted post = %v, want ErrNotFound", err)
	}
	if _, err := s.DeletePost(ctx, owner.ID, feed.NewID()); !errors.Is(err, feed.ErrNotFound) {
		t.Errorf("DeletePost of a post that never existed = %v, want ErrNotFound", err)
	}
	check("after deletes of posts that do not exist", 2)
	if _, err := s.DeletePost(ctx, other.ID, posts[1].ID); !errors.Is(err, feed.ErrForbidden) {
		t.Errorf("DeletePost by another user = %v, want ErrForbidden", err)
	}
	check("after a forbidden delete", 2)

	const writers, each = 8, 25
	created := make([][]string, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			for range each {
				now := feed.Now()
				p := &feed.Post{ID: feed.NewID(), Title: "c", Content: "c", ImageURL: "images/c.png",
					Creator: feed.Creator{ID: owner.ID}, CreatedAt: now, UpdatedAt: now}
				if err := s.CreatePost(ctx, p); err != nil {
					t.Errorf("concurrent CreatePost: %v", err)
					return
				}
				created[i] = append(created[i], p.ID)
			}
		})
	}
	wg.Wait()
	for _, ids := range created {
		if len(ids) != each {
			t.FailNow() // the failed create is reported
		}
	}
	check("after concurrent creates", 2+writers*each)

	// Two goroutines at once delete each writer's posts: every post is
	// deleted once, the other attempt finding it gone.
	var deleted [writers][each]int
	var mu sync.Mutex
	for i := range writers {
		for _, w := range []int{i, (i + 1) % writers} {
			wg.Go(func() {
				for j, id := range created[w] {
					_, err := s.DeletePost(ctx, owner.ID, id)
					switch {
					case err == nil:
						mu.Lock()
						deleted[w][j]++
						mu.Unlock()
					case !errors.Is(err, feed.ErrNotFound):
						t.Errorf("concurrent DeletePost: %v", err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	for w := range deleted {
		for j, n := range deleted[w] {
			if n != 1 {
				t.Errorf("post %s deleted %d times, want 1", created[w][j], n)
			}
		}
	}
	check("after concurrent deletes", 2)
}

// testInjectionLookingInput stores and reads back text that would break a
// query built by concatenation (quotes, comments, statement separators,
// LIKE wildcards, a NUL-free backslash mix): the values come back exactly,
// lookups by such values find nothing else, and the tables are intact.
func testInjectionLookingInput(t *testing.T, s feed.Store) {
	ctx := ctxT(t)
	nasty := []string{
		`'; DROP TABLE posts; --`, `" OR "1"="1`, `' OR '1'='1' --`, `%`, `_`, `\'; SELECT pg_sleep(10); --`,
		`Robert'); DELETE FROM users WHERE ('1'='1`, "$1", "?", "x' UNION SELECT id, email, password, name, status, 0, 0 FROM users --",
	}
	victim := newUser(t, s, "victim@example.com", "Victim")
	for i, v := range nasty {
		u := newUser(t, s, fmt.Sprintf("u%d@example.com", i), v)
		if got, err := s.UserByID(ctx, u.ID); err != nil || got.Name != v {
			t.Fatalf("user named %q read back as %v, %v", v, got, err)
		}
		if err := s.SetStatus(ctx, u.ID, v, feed.Now()); err != nil {
			t.Fatalf("SetStatus(%q): %v", v, err)
		}
		if got, err := s.UserByID(ctx, u.ID); err != nil || got.Status != v {
			t.Fatalf("status %q read back as %v, %v", v, got, err)
		}
		// Lookups by such a value match nothing (not everything).
		if _, err := s.UserByEmail(ctx, v); !errors.Is(err, feed.ErrNotFound) {
			t.Errorf("UserByEmail(%q) = %v, want ErrNotFound", v, err)
		}
		if _, err := s.UserByID(ctx, v); !errors.Is(err, feed.ErrNotFound) {
			t.Errorf("UserByID(%q) = %v, want ErrNotFound", v, err)
		}
		if _, err := s.Post(ctx, v); !errors.Is(err, feed.ErrNotFound) {
			t.Errorf("Post(%q) = %v, want ErrNotFound", v, err)
		}
		p := newPost(t, s, u, v, feed.Now())
		if got, err := s.Post(ctx, p.ID); err != nil || got.Title != v || got.Creator.Name != v {
			t.Fatalf("post titled %q read back as %+v, %v", v, got, err)
		}
		if _, err := s.DeletePost(ctx, u.ID, v); !errors.Is(err, feed.ErrNotFound) {
			t.Errorf("DeletePost(id %q) = %v, want ErrNotFound", v, err)
		}
	}
	if got, err := s.UserByID(ctx, victim.ID); err != nil || got.Name != "Victim" || got.Status != feed.DefaultStatus {
		t.Errorf("another user changed: %+v, %v", got, err)
	}
	if _, total, err := s.Posts(ctx, 0, 100); err != nil || total != len(nasty) {
		t.Errorf("posts after the nasty input: total %d, %v; want %d", total, err, len(nasty))
	}
}
