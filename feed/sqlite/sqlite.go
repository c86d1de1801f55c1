// Package sqlite is the feed's embedded store: one SQLite database file,
// through the pure-Go driver modernc.org/sqlite, in WAL mode with foreign keys
// on and synchronous=FULL, so that an acknowledged write survives a crash.
// Migrations are embedded and applied by Open.
//
// Writes go through a pool of one connection whose transactions begin
// IMMEDIATE, so writers queue in Go instead of failing with SQLITE_BUSY;
// reads use a separate pool and see a consistent snapshot each. A write
// waits at most Options.BusyTimeout for a lock held by another process, and
// at most Options.WriteTimeout in all, its wait in that queue included: when
// the file stays locked, writes fail with feed.ErrUnavailable instead of
// piling up behind each other.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/heraldio/herald/feed"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Defaults of Options.
const (
	DefaultBusyTimeout  = 10 * time.Second
	DefaultWriteTimeout = 30 * time.Second
)

// Options configures OpenWith. The zero value is the defaults.
type Options struct {
	// BusyTimeout bounds how long a statement waits for a lock held by
	// another connection or process (SQLite's busy_timeout); then the write
	// fails with feed.ErrUnavailable. Zero means 10s.
	BusyTimeout time.Duration
	// WriteTimeout bounds a whole write: its wait for the writer connection
	// (behind the other writes of this Store) and its statements. A write
	// that cannot finish within it fails with feed.ErrUnavailable, so that
	// while the file is locked requests do not queue up behind each other
	// for a busy timeout each. It is at least BusyTimeout. Zero means 30s.
	WriteTimeout time.Duration
}

// Store is a feed.Store in a SQLite database file.
type Store struct {
	w         *sql.DB // one connection, IMMEDIATE transactions
	r         *sql.DB // readers
	writeTime time.Duration
}

var _ feed.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path with the
// default Options and applies the migrations it lacks.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, nil)
}

// OpenWith is Open with options; opts may be nil.
func OpenWith(ctx context.Context, path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = DefaultBusyTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	o.WriteTimeout = max(o.WriteTimeout, o.BusyTimeout)
	dsn := func(txlock string) string {
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.BusyTimeout.Milliseconds()))
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous(FULL)")
		if txlock != "" {
			q.Set("_txlock", txlock)
		}
		return "file:" + path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn("immediate"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", dsn(""))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	r.SetMaxOpenConns(4)
	s := &Store{w: w, r: r, writeTime: o.WriteTimeout}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// migrate applies, in order and each in its own transaction, the embedded
// migrations not yet recorded in schema_migrations.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", mapErr(err))
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		version, err := strconv.Atoi(base[:strings.IndexByte(base, '_')])
		if err != nil {
			return fmt.Errorf("sqlite: migration %s: bad name: %w", name, err)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", name, err)
		}
		if err := s.apply(ctx, version, string(body)); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", name, err)
		}
	}
	return nil
}

func (s *Store) apply(ctx context.Context, version int, body string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return mapErr(err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return mapErr(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		version, time.Now().UnixMilli()); err != nil {
		return mapErr(err)
	}
	return mapErr(tx.Commit())
}

// bound limits a write to the write timeout, its wait for the writer
// connection included. The returned done, deferred with the write's error,
// turns a failure caused by that limit (rather than by ctx) into
// feed.ErrUnavailable, and releases the timer.
func (s *Store) bound(ctx context.Context) (context.Context, func(*error)) {
	wctx, cancel := context.WithTimeout(ctx, s.writeTime)
	return wctx, func(err *error) {
		if *err != nil && ctx.Err() == nil && wctx.Err() != nil && !errors.Is(*err, feed.ErrUnavailable) {
			*err = fmt.Errorf("%w: write not done within %v: %w", feed.ErrUnavailable, s.writeTime, *err)
		}
		cancel()
	}
}

// Close closes the database.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", mapErr(err))
	}
	return nil
}

// CreateUser implements feed.Store.
func (s *Store) CreateUser(ctx context.Context, u *feed.User) (err error) {
	ctx, done := s.bound(ctx)
	defer done(&err)
	_, err = s.w.ExecContext(ctx, `INSERT INTO users (id, email, password, name, status, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, u.ID, feed.NormalizeEmail(u.Email), u.Password, u.Name, u.Status,
		u.CreatedAt.UnixMilli(), u.UpdatedAt.UnixMilli())
	if isCode(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE) || isCode(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
		return fmt.Errorf("sqlite: create user: %w", feed.ErrEmailTaken)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create user: %w", mapErr(err))
	}
	return nil
}

const userColumns = `id, email, password, name, status, created_at, updated_at`

func scanUser(row *sql.Row) (*feed.User, error) {
	var u feed.User
	var created, updated int64
	if err := row.Scan(&u.ID, &u.Email, &u.Password, &u.Name, &u.Status, &created, &updated); err != nil {
		return nil, mapErr(err)
	}
	u.CreatedAt, u.UpdatedAt = fromMilli(created), fromMilli(updated)
	return &u, nil
}

// UserByEmail implements feed.Store.
func (s *Store) UserByEmail(ctx context.Context, email string) (*feed.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`,
		feed.NormalizeEmail(email)))
	if err != nil {
		return nil, fmt.Errorf("sqlite: user by email: %w", err)
	}
	return u, nil
}

// UserByID implements feed.Store.
func (s *Store) UserByID(ctx context.Context, id string) (*feed.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("sqlite: user by id: %w", err)
	}
	return u, nil
}

// SetStatus implements feed.Store.
func (s *Store) SetStatus(ctx context.Context, userID, status string, at time.Time) (err error) {
	ctx, done := s.bound(ctx)
	defer done(&err)
	res, err := s.w.ExecContext(ctx, `UPDATE users SET status = ?, updated_at = ? WHERE id = ?`,
		status, at.UnixMilli(), userID)
	if err != nil {
		return fmt.Errorf("sqlite: set status: %w", mapErr(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: set status: %w", mapErr(err))
	} else if n == 0 {
		return fmt.Errorf("sqlite: set status: %w", feed.ErrNotFound)
	}
	return nil
}

const (
	postColumns = `p.id, p.title, p.content, p.image_url, p.creator_id, u.name, p.created_at, p.updated_at`
	postQuery   = `SELECT ` + postColumns + ` FROM posts p JOIN users u ON u.id = p.creator_id`
	// pageQuery lists limit posts from offset, newest first. The subquery
	// finds the page's ids in the index posts_newest alone, which holds
	// created_at and id, so the posts skipped are index entries walked, not
	// rows read and joined; then only the page's posts are read and joined
	// with their creators. A deep page still walks offset entries.
	pageQuery = `SELECT ` + postColumns + `
		FROM (SELECT id FROM posts ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?) page
		JOIN posts p ON p.id = page.id JOIN users u ON u.id = p.creator_id
		ORDER BY p.created_at DESC, p.id DESC`
)

type scanner interface{ Scan(dest ...any) error }

func scanPost(row scanner) (*feed.Post, error) {
	var p feed.Post
	var created, updated int64
	if err := row.Scan(&p.ID, &p.Title, &p.Content, &p.ImageURL, &p.Creator.ID, &p.Creator.Name,
		&created, &updated); err != nil {
		return nil, mapErr(err)
	}
	p.CreatedAt, p.UpdatedAt = fromMilli(created), fromMilli(updated)
	return &p, nil
}

// CreatePost implements feed.Store.
func (s *Store) CreatePost(ctx context.Context, p *feed.Post) (err error) {
	defer wrap(&err, "sqlite: create post")
	ctx, done := s.bound(ctx)
	defer done(&err)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT name FROM users WHERE id = ?`, p.Creator.ID).Scan(&p.Creator.Name); err != nil {
		return mapErr(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO posts (id, title, content, image_url, creator_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, p.ID, p.Title, p.Content, p.ImageURL, p.Creator.ID,
		p.CreatedAt.UnixMilli(), p.UpdatedAt.UnixMilli()); err != nil {
		return mapErr(err)
	}
	return mapErr(tx.Commit())
}

// Post implements feed.Store.
func (s *Store) Post(ctx context.Context, id string) (*feed.Post, error) {
	p, err := scanPost(s.r.QueryRowContext(ctx, postQuery+` WHERE p.id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("sqlite: post: %w", err)
	}
	return p, nil
}

// Posts implements feed.Store.
func (s *Store) Posts(ctx context.Context, offset, limit int) (posts []feed.Post, total int, err error) {
	defer wrap(&err, "sqlite: posts")
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, mapErr(err)
	}
	defer tx.Rollback()
	// Both statements run in one read transaction: in WAL mode it sees one
	// snapshot, so the count matches the page. The count is the one kept by
	// triggers in post_stats (migration 0002), not count(*), which reads
	// the whole table.
	if err := tx.QueryRowContext(ctx, `SELECT total FROM post_stats WHERE id = 1`).Scan(&total); err != nil {
		return nil, 0, mapErr(err)
	}
	rows, err := tx.QueryContext(ctx, pageQuery, limit, offset)
	if err != nil {
		return nil, 0, mapErr(err)
	}
	defer rows.Close()
	posts = make([]feed.Post, 0, limit)
	for rows.Next() {
		p, err := scanPost(rows)
		if err != nil {
			return nil, 0, err
		}
		posts = append(posts, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, mapErr(err)
	}
	return posts, total, nil
}

// ownedPost reads a post's creator and image in tx and checks that userID
// created it.
func ownedPost(ctx context.Context, tx *sql.Tx, userID, postID string) (image string, err error) {
	var creator string
	if err := tx.QueryRowContext(ctx, `SELECT creator_id, image_url FROM posts WHERE id = ?`, postID).
		Scan(&creator, &image); err != nil {
		return "", mapErr(err)
	}
	if creator != userID {
		return "", feed.ErrForbidden
	}
	return image, nil
}

// UpdatePost implements feed.Store.
func (s *Store) UpdatePost(ctx context.Context, userID string, u feed.PostUpdate) (post *feed.Post, old string, err error) {
	defer wrap(&err, "sqlite: update post")
	ctx, done := s.bound(ctx)
	defer done(&err)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, "", mapErr(err)
	}
	defer tx.Rollback()
	old, err = ownedPost(ctx, tx, userID, u.ID)
	if err != nil {
		return nil, "", err
	}
	image := u.ImageURL
	if image == "" {
		image = old
	}
	if _, err := tx.ExecContext(ctx, `UPDATE posts SET title = ?, content = ?, image_url = ?, updated_at = ? WHERE id = ?`,
		u.Title, u.Content, image, u.UpdatedAt.UnixMilli(), u.ID); err != nil {
		return nil, "", mapErr(err)
	}
	post, err = scanPost(tx.QueryRowContext(ctx, postQuery+` WHERE p.id = ?`, u.ID))
	if err != nil {
		return nil, "", err
	}
	if err := tx.Commit(); err != nil {
		return nil, "", mapErr(err)
	}
	return post, old, nil
}

// DeletePost implements feed.Store.
func (s *Store) DeletePost(ctx context.Context, userID, postID string) (post *feed.Post, err error) {
	defer wrap(&err, "sqlite: delete post")
	ctx, done := s.bound(ctx)
	defer done(&err)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, mapErr(err)
	}
	defer tx.Rollback()
	if _, err := ownedPost(ctx, tx, userID, postID); err != nil {
		return nil, err
	}
	post, err = scanPost(tx.QueryRowContext(ctx, postQuery+` WHERE p.id = ?`, postID))
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM posts WHERE id = ?`, postID); err != nil {
		return nil, mapErr(err)
	}
	if err := tx.Commit(); err != nil {
		return nil, mapErr(err)
	}
	return post, nil
}

func fromMilli(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func wrap(err *error, msg string) {
	if *err != nil {
		*err = fmt.Errorf("%s: %w", msg, *err)
	}
}

func isCode(err error, code int) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == code
}

// mapErr gives SQLite errors the feed's meaning: no rows is ErrNotFound, a
// foreign key failure (a missing user) too, and a database that stays busy or
// locked past busy_timeout, or a full disk, is ErrUnavailable.
func mapErr(err error) error {
	var e *sqlite.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return feed.ErrNotFound
	case errors.As(err, &e):
		switch e.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
			return fmt.Errorf("%w: %w", feed.ErrUnavailable, err)
		}
		if e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
			return fmt.Errorf("%w: %w", feed.ErrNotFound, err)
		}
	}
	return err
}
