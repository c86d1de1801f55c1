// Package feed is the domain of the feed service described in
// shared/docs/feed-api.md: users, posts, their validation and who may change
// what. It talks to storage through the Store interface, implemented by
// packages feed/sqlite and feed/postgres, and is served over HTTP by
// feed/httpapi. Start with Service.
package feed

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// DefaultStatus is the status of a user who has not set one.
const DefaultStatus = "I am new!"

// TimeLayout is how times appear in JSON: ISO-8601 UTC with milliseconds,
// as JavaScript's Date.prototype.toJSON writes them.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Store errors. Implementations of Store return them (possibly wrapped) so that
// callers can branch with errors.Is.
var (
	// ErrNotFound means the user or post does not exist.
	ErrNotFound = errors.New("feed: not found")
	// ErrEmailTaken means another user has the email address.
	ErrEmailTaken = errors.New("feed: email taken")
	// ErrForbidden means the user may not change the post.
	ErrForbidden = errors.New("feed: forbidden")
	// ErrUnavailable means the database cannot be reached or is overloaded;
	// the request may succeed later.
	ErrUnavailable = errors.New("feed: database unavailable")
	// ErrOutcomeUnknown means the connection failed after the statement
	// that commits a write may have reached the database: the write may
	// or may not have happened. It comes wrapped together with
	// ErrUnavailable, so callers that do not care see an outage; callers
	// that clean up after a failed write (such as removing an uploaded
	// file) must not, since a committed row may refer to it.
	ErrOutcomeUnknown = errors.New("feed: outcome of the write unknown")
)

// User is an account. Password is the bcrypt hash and is never sent to
// clients.
type User struct {
	ID        string
	Email     string // lower-cased
	Password  string // bcrypt hash
	Name      string
	Status    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Creator is the author of a post as clients see it.
type Creator struct {
	ID   string `json:"_id"`
	Name string `json:"name"`
}

// Post is a post as stored and as sent to clients.
type Post struct {
	ID        string
	Title     string
	Content   string
	ImageURL  string // "images/<generated name>"
	Creator   Creator
	CreatedAt time.Time
	UpdatedAt time.Time
}

type postJSON struct {
	ID        string  `json:"_id"`
	Title     string  `json:"title"`
	Content   string  `json:"content"`
	ImageURL  string  `json:"imageUrl"`
	Creator   Creator `json:"creator"`
	CreatedAt string  `json:"createdAt"`
	UpdatedAt string  `json:"updatedAt"`
}

// MarshalJSON writes the post with the contract's field names and times.
func (p Post) MarshalJSON() ([]byte, error) {
	return json.Marshal(postJSON{
		ID: p.ID, Title: p.Title, Content: p.Content, ImageURL: p.ImageURL, Creator: p.Creator,
		CreatedAt: FormatTime(p.CreatedAt), UpdatedAt: FormatTime(p.UpdatedAt),
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *Post) UnmarshalJSON(b []byte) error {
	var v postJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	created, err := time.Parse(time.RFC3339Nano, v.CreatedAt)
	if err != nil {
		return err
	}
	updated, err := time.Parse(time.RFC3339Nano, v.UpdatedAt)
	if err != nil {
		return err
	}
	*p = Post{ID: v.ID, Title: v.Title, Content: v.Content, ImageURL: v.ImageURL, Creator: v.Creator,
		CreatedAt: created, UpdatedAt: updated}
	return nil
}

// FormatTime formats t in UTC with milliseconds (TimeLayout).
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// Now returns the current time truncated to milliseconds, the precision
// clients see, so that what is stored is what is sent.
func Now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// PostUpdate is the change UpdatePost makes. An empty ImageURL keeps the
// current image.
type PostUpdate struct {
	ID        string
	Title     string
	Content   string
	ImageURL  string
	UpdatedAt time.Time
}

// Store keeps users and posts. Implementations are safe for concurrent use.
// Every method may also fail with ErrUnavailable when the database is away.
type Store interface {
	// CreateUser inserts u, whose ID, lower-cased Email and times are set.
	// It returns ErrEmailTaken when the email is in use.
	CreateUser(ctx context.Context, u *User) error
	// UserByEmail finds a user by email, case-insensitively, or returns
	// ErrNotFound.
	UserByEmail(ctx context.Context, email string) (*User, error)
	// UserByID finds a user or returns ErrNotFound.
	UserByID(ctx context.Context, id string) (*User, error)
	// SetStatus changes a user's status or returns ErrNotFound.
	SetStatus(ctx context.Context, userID, status string, at time.Time) error

	// CreatePost inserts p, whose ID, times and Creator.ID are set, and fills
	// p.Creator.Name. It returns ErrNotFound when the creator does not exist.
	CreatePost(ctx context.Context, p *Post) error
	// Post finds a post or returns ErrNotFound.
	Post(ctx context.Context, id string) (*Post, error)
	// Posts lists limit posts from offset, newest first (CreatedAt descending,
	// then ID descending), with the total number of posts counted in the same
	// snapshot.
	Posts(ctx context.Context, offset, limit int) (posts []Post, total int, err error)
	// UpdatePost applies u in one transaction if userID created the post, and
	// returns the post as updated and the image URL it had before. It returns
	// ErrNotFound or ErrForbidden and changes nothing otherwise.
	UpdatePost(ctx context.Context, userID string, u PostUpdate) (post *Post, oldImageURL string, err error)
	// DeletePost deletes a post in one transaction if userID created it, and
	// returns it as it was. It returns ErrNotFound or ErrForbidden and changes
	// nothing otherwise.
	DeletePost(ctx context.Context, userID, postID string) (*Post, error)

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}
