package feed

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Page sizes of Service.Posts.
const (
	DefaultPerPage = 2 // the original frontend computes its pages with 2
	MaxPerPage     = 100
)

// Actions of an Event.
const (
	ActionCreate = "create"
	ActionUpdate = "update"
	ActionDelete = "delete"
)

// Event describes a committed change to a post.
type Event struct {
	Action string // ActionCreate, ActionUpdate or ActionDelete
	Post   *Post  // the post as created or updated; the deleted post for ActionDelete
}

// Payload returns the argument of the contract's "posts" event: the post for
// create and update, its id alone for delete.
func (e Event) Payload() any {
	if e.Action == ActionDelete {
		return struct {
			Action string `json:"action"`
			Post   string `json:"post"`
		}{e.Action, e.Post.ID}
	}
	return struct {
		Action string `json:"action"`
		Post   *Post  `json:"post"`
	}{e.Action, e.Post}
}

// ServiceOptions configures NewService. The zero value is valid.
type ServiceOptions struct {
	// BcryptCost is the cost of new password hashes. Zero means 12; tests use
	// bcrypt.MinCost (4) to run fast.
	BcryptCost int
	// OnChange, when set, is called after every committed change to a post,
	// on the goroutine of the request that made it, before the request's
	// answer is sent. It must not block for long.
	OnChange func(Event)
}

// Service carries out the feed's use cases: it validates input, checks who
// may do what and calls the Store. Its methods return *Error values for
// everything a client caused (see Code); other errors are internal. A Service
// is safe for concurrent use.
type Service struct {
	store Store
	opts  ServiceOptions
	// postLocks order the changes to one post with their events: a post's
	// update or delete holds its stripe from the transaction to the event,
	// so two changes to one post are never reported in the other order.
	postLocks [64]sync.Mutex
}

func (s *Service) lockPost(id string) func() {
	h := fnv.New32a()
	h.Write([]byte(id))
	m := &s.postLocks[h.Sum32()%uint32(len(s.postLocks))]
	m.Lock()
	return m.Unlock
}

// NewService returns a Service over store. opts may be nil.
func NewService(store Store, opts *ServiceOptions) *Service {
	s := &Service{store: store}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.BcryptCost == 0 {
		s.opts.BcryptCost = 12
	}
	return s
}

// Store returns the service's store.
func (s *Service) Store() Store { return s.store }

// SignupInput is what a new user sends; a nil field was missing.
type SignupInput struct {
	Email, Password, Name *string
}

// Signup creates a user with a lower-cased email, a bcrypt hash of the
// trimmed password and the default status. It returns an EInvalid *Error with
// message "Validation failed." and the failed fields when a rule is broken,
// including when the email is taken.
func (s *Service) Signup(ctx context.Context, in SignupInput) (*User, error) {
	var data []FieldError
	email := deref(in.Email)
	if !ValidEmail(strings.TrimSpace(email)) {
		data = append(data, fieldError("body", "email", in.Email, MsgInvalidEmail))
	} else if _, err := s.store.UserByEmail(ctx, NormalizeEmail(email)); err == nil {
		data = append(data, fieldError("body", "email", in.Email, MsgEmailTaken))
	} else if !errors.Is(err, ErrNotFound) {
		return nil, storeError(err, "")
	}
	password := trimmed(in.Password)
	switch {
	case len(deref(password)) < MinPasswordLen || utf8.RuneCountInString(deref(password)) < MinPasswordLen:
		data = append(data, fieldError("body", "password", password, MsgInvalidValue))
	case len(*password) > MaxPasswordLen:
		data = append(data, fieldError("body", "password", password, "Must be at most 72 bytes."))
	}
	name := trimmed(in.Name)
	switch n := utf8.RuneCountInString(deref(name)); {
	case n == 0:
		data = append(data, fieldError("body", "name", name, MsgInvalidValue))
	case n > MaxNameLen:
		data = append(data, fieldError("body", "name", name, "Must be at most 100 characters."))
	}
	if data != nil {
		return nil, &Error{Code: EInvalid, Message: "Validation failed.", Data: data}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(*password), s.opts.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	now := Now()
	u := &User{ID: NewID(), Email: NormalizeEmail(email), Password: string(hash), Name: *name,
		Status: DefaultStatus, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, ErrEmailTaken) { // lost a race with another signup
			return nil, &Error{Code: EInvalid, Message: "Validation failed.",
				Data: []FieldError{fieldError("body", "email", in.Email, MsgEmailTaken)}}
		}
		return nil, storeError(err, "")
	}
	return u, nil
}

// Login returns the user with email (matched case-insensitively) if password
// is theirs, or an EUnauthenticated *Error: "A user with this email could not
// be found." or "Wrong password!".
func (s *Service) Login(ctx context.Context, email, password string) (*User, error) {
	u, err := s.store.UserByEmail(ctx, NormalizeEmail(email))
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(EUnauthenticated, "A user with this email could not be found.")
	}
	if err != nil {
		return nil, storeError(err, "")
	}
	// The password was trimmed at signup; trim it here too so that the same
	// typed text logs in.
	if bcrypt.CompareHashAndPassword([]byte(u.Password), []byte(strings.TrimSpace(password))) != nil {
		return nil, Errorf(EUnauthenticated, "Wrong password!")
	}
	return u, nil
}

// Status returns a user's status, or an ENotFound *Error "User not found.".
func (s *Service) Status(ctx context.Context, userID string) (string, error) {
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return "", storeError(err, "User not found.")
	}
	return u.Status, nil
}

// SetStatus sets a user's status, trimmed. It returns an EInvalid *Error
// "Validation failed." when the trimmed status is empty or too long, and an
// ENotFound *Error "User not found." for an unknown user.
func (s *Service) SetStatus(ctx context.Context, userID string, status *string) error {
	st := trimmed(status)
	switch n := utf8.RuneCountInString(deref(st)); {
	case n == 0:
		return &Error{Code: EInvalid, Message: "Validation failed.",
			Data: []FieldError{fieldError("body", "status", st, "Status must not be empty.")}}
	case n > MaxStatusLen:
		return &Error{Code: EInvalid, Message: "Validation failed.",
			Data: []FieldError{fieldError("body", "status", st, "Must be at most 500 characters.")}}
	}
	if err := s.store.SetStatus(ctx, userID, *st, Now()); err != nil {
		return storeError(err, "User not found.")
	}
	return nil
}

// Posts returns page (from 1) of the posts, perPage to a page, newest first,
// and the number of all posts. It returns an EInvalid *Error for a page below
// 1 or a perPage outside 1..MaxPerPage.
func (s *Service) Posts(ctx context.Context, page, perPage int) ([]Post, int, error) {
	if page < 1 || perPage < 1 || perPage > MaxPerPage {
		return nil, 0, Errorf(EInvalid, "Validation failed.")
	}
	if page > (1<<31)/MaxPerPage {
		return nil, 0, Errorf(EInvalid, "Validation failed.")
	}
	posts, total, err := s.store.Posts(ctx, (page-1)*perPage, perPage)
	if err != nil {
		return nil, 0, storeError(err, "")
	}
	if posts == nil {
		posts = []Post{}
	}
	return posts, total, nil
}

// Post returns one post, or an ENotFound *Error "Could not find post." also
// for an id that is not well-formed.
func (s *Service) Post(ctx context.Context, id string) (*Post, error) {
	if !ValidID(id) {
		return nil, Errorf(ENotFound, "Could not find post.")
	}
	p, err := s.store.Post(ctx, id)
	if err != nil {
		return nil, storeError(err, "Could not find post.")
	}
	return p, nil
}

// PostInput is the text of a new or edited post; a nil field was missing.
type PostInput struct {
	Title, Content *string
}

// CreatePost creates a post by userID with the image at imageURL, stores its
// title and content trimmed and reports an ActionCreate Event after commit.
// It returns the EInvalid *Error of ValidatePost, an EInvalid *Error "No image
// provided." when imageURL is empty, and an EUnauthenticated *Error when the
// user no longer exists.
func (s *Service) CreatePost(ctx context.Context, userID string, in PostInput, imageURL string) (*Post, error) {
	if err := ValidatePost(in.Title, in.Content); err != nil {
		return nil, err
	}
	if imageURL == "" {
		return nil, Errorf(EInvalid, "No image provided.")
	}
	now := Now()
	p := &Post{ID: NewID(), Title: strings.TrimSpace(*in.Title), Content: strings.TrimSpace(*in.Content),
		ImageURL: imageURL, Creator: Creator{ID: userID}, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreatePost(ctx, p); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, Errorf(EUnauthenticated, "Not authenticated.")
		}
		return nil, storeError(err, "")
	}
	s.changed(Event{Action: ActionCreate, Post: p})
	return p, nil
}

// UpdatePost changes a post of userID's, keeping its image when imageURL is
// empty, and reports an ActionUpdate Event after commit. It returns the post
// and the image URL it had before. Errors: ENotFound "Could not find post."
// (also for a malformed id), EForbidden "Not authorized!", and the EInvalid
// *Error of ValidatePost.
func (s *Service) UpdatePost(ctx context.Context, userID, postID string, in PostInput, imageURL string) (*Post, string, error) {
	if !ValidID(postID) {
		return nil, "", Errorf(ENotFound, "Could not find post.")
	}
	if err := ValidatePost(in.Title, in.Content); err != nil {
		return nil, "", err
	}
	defer s.lockPost(postID)()
	p, old, err := s.store.UpdatePost(ctx, userID, PostUpdate{ID: postID, Title: strings.TrimSpace(*in.Title),
		Content: strings.TrimSpace(*in.Content), ImageURL: imageURL, UpdatedAt: Now()})
	if err != nil {
		return nil, "", storeError(err, "Could not find post.")
	}
	s.changed(Event{Action: ActionUpdate, Post: p})
	return p, old, nil
}

// DeletePost deletes a post of userID's and reports an ActionDelete Event
// after commit. It returns the deleted post. Errors: ENotFound "Could not find
// post." (also for a malformed id) and EForbidden "Not authorized!".
func (s *Service) DeletePost(ctx context.Context, userID, postID string) (*Post, error) {
	if !ValidID(postID) {
		return nil, Errorf(ENotFound, "Could not find post.")
	}
	defer s.lockPost(postID)()
	p, err := s.store.DeletePost(ctx, userID, postID)
	if err != nil {
		return nil, storeError(err, "Could not find post.")
	}
	s.changed(Event{Action: ActionDelete, Post: p})
	return p, nil
}

func (s *Service) changed(e Event) {
	if s.opts.OnChange != nil {
		s.opts.OnChange(e)
	}
}

// storeError turns a Store error into an *Error, using notFound as the
// message of ErrNotFound.
func storeError(err error, notFound string) error {
	switch {
	case errors.Is(err, ErrNotFound) && notFound != "":
		return &Error{Code: ENotFound, Message: notFound, Err: err}
	case errors.Is(err, ErrForbidden):
		return &Error{Code: EForbidden, Message: "Not authorized!", Err: err}
	case errors.Is(err, ErrUnavailable):
		return &Error{Code: EUnavailable, Message: "Service unavailable, please try again.", Err: err}
	default:
		return err
	}
}
