package httpapi_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldio/herald/feed"
	"github.com/heraldio/herald/feed/httpapi"
	"golang.org/x/crypto/bcrypt"
)

// lostAnswerStore commits creates and updates, then reports what a
// connection lost between the commit and its answer looks like.
type lostAnswerStore struct{ feed.Store }

var errLostAnswer = fmt.Errorf("%w: %w", feed.ErrOutcomeUnknown, feed.ErrUnavailable)

func (s lostAnswerStore) CreatePost(ctx context.Context, p *feed.Post) error {
	if err := s.Store.CreatePost(ctx, p); err != nil {
		return err
	}
	return errLostAnswer
}

func (s lostAnswerStore) UpdatePost(ctx context.Context, userID string, u feed.PostUpdate) (*feed.Post, string, error) {
	if _, _, err := s.Store.UpdatePost(ctx, userID, u); err != nil {
		return nil, "", err
	}
	return nil, "", errLostAnswer
}

// TestOutcomeUnknownKeepsUpload: when a create or an edit may have
// committed although the request failed (503), the uploaded image is kept,
// so a committed post never refers to a missing file.
func TestOutcomeUnknownKeepsUpload(t *testing.T) {
	plain := newAPI(t)
	plain.signup("lost@example.com", "lost-password")
	token := plain.login("127.0.0.1", "lost@example.com", "lost-password").str("token")
	store := plain.store
	a := newAPI(t, func(o *httpapi.Options) {
		o.Service = feed.NewService(lostAnswerStore{store}, &feed.ServiceOptions{BcryptCost: bcrypt.MinCost})
		o.ImagesDir = filepath.Join(plain.dir, "images")
	})
	send := func(method, path, title string) result {
		body, ct := multipartBody(pngImage, "title", title, "content", "Content of "+title)
		req := httptest.NewRequest(method, path, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+token)
		return a.serve(req)
	}
	if r := send("POST", "/feed/post", "Lost answer"); r.status != 503 {
		t.Fatalf("create: %d %s; want 503", r.status, r.body)
	}
	posts, total, err := store.Posts(context.Background(), 0, 10)
	if err != nil || total != 1 {
		t.Fatalf("the create committed: %d posts, %v", total, err)
	}
	checkFile := func(what, url string) {
		t.Helper()
		if _, err := os.Stat(filepath.Join(plain.dir, filepath.FromSlash(url))); err != nil {
			t.Errorf("%s: the committed post's image %s: %v", what, url, err)
		}
	}
	checkFile("create", posts[0].ImageURL)
	if r := send("PUT", "/feed/post/"+posts[0].ID, "Lost edit"); r.status != 503 {
		t.Fatalf("edit: %d %s; want 503", r.status, r.body)
	}
	p, err := store.Post(context.Background(), posts[0].ID)
	if err != nil || p.Title != "Lost edit" {
		t.Fatalf("the edit committed: %+v, %v", p, err)
	}
	checkFile("edit", p.ImageURL)
}
