// Package postgres is the feed's production store: PostgreSQL through a pgx
// connection pool. Migrations are embedded and applied by Open under an
// advisory lock, so several instances may start at once.
//
// Open's URL is a pgx connection string; a search_path parameter in it
// selects the schema, which lets tests isolate themselves.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/heraldio/herald/feed"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the pg_advisory_xact_lock key that serializes migrations
// of concurrently starting instances.
const migrationLock = 0x68657261_6c64 // "herald"

// Store is a feed.Store in PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

var _ feed.Store = (*Store)(nil)

// Open connects to the database at url and applies the migrations it lacks.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// migrate applies the embedded migrations not yet recorded in
// schema_migrations, in order, in one transaction, at READ COMMITTED
// whatever the server's default, so that each statement of a migration sees
// what was committed before it began (0002 counts the posts after locking
// out writers).
func (s *Store) migrate(ctx context.Context) (err error) {
	defer wrap(&err, "postgres: migrate")
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
		return mapErr(err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return mapErr(err)
	}
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		version, err := strconv.Atoi(base[:strings.IndexByte(base, '_')])
		if err != nil {
			return fmt.Errorf("migration %s: bad name: %w", name, err)
		}
		var applied bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, version).
			Scan(&applied); err != nil {
			return mapErr(err)
		}
		if applied {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", name, mapErr(err))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, version); err != nil {
			return mapErr(err)
		}
	}
	return mapErr(tx.Commit(ctx))
}

// Close closes the pool, waiting for connections in use to be released.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", mapErr(err))
	}
	return nil
}

// CreateUser implements feed.Store.
func (s *Store) CreateUser(ctx context.Context, u *feed.User) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO users (id, email, password, name, status, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, u.ID, feed.NormalizeEmail(u.Email), u.Password, u.Name, u.Status,
		u.CreatedAt, u.UpdatedAt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("postgres: create user: %w", feed.ErrEmailTaken)
	}
	if err != nil {
		return fmt.Errorf("postgres: create user: %w", mapErr(err))
	}
	return nil
}

const userColumns = `id, email, password, name, status, created_at, updated_at`

func scanUser(row pgx.Row) (*feed.User, error) {
	var u feed.User
	if err := row.Scan(&u.ID, &u.Email, &u.Password, &u.Name, &u.Status, &u.CreatedAt, &u.UpdatedAt); err != nil {
		return nil, mapErr(err)
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return &u, nil
}

// UserByEmail implements feed.Store.
func (s *Store) UserByEmail(ctx context.Context, email string) (*feed.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`,
		feed.NormalizeEmail(email)))
	if err != nil {
		return nil, fmt.Errorf("postgres: user by email: %w", err)
	}
	return u, nil
}

// UserByID implements feed.Store.
func (s *Store) UserByID(ctx context.Context, id string) (*feed.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("postgres: user by id: %w", err)
	}
	return u, nil
}

// SetStatus implements feed.Store.
func (s *Store) SetStatus(ctx context.Context, userID, status string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE users SET status = $1, updated_at = $2 WHERE id = $3`, status, at, userID)
	if err != nil {
		return fmt.Errorf("postgres: set status: %w", mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: set status: %w", feed.ErrNotFound)
	}
	return nil
}

const (
	postColumns = `p.id, p.title, p.content, p.image_url, p.creator_id, u.name, p.created_at, p.updated_at`
	postQuery   = `SELECT ` + postColumns + ` FROM posts p JOIN users u ON u.id = p.creator_id`
	// pageQuery lists limit posts from offset, newest first. The subquery
	// finds the page's ids in the index posts_newest, which holds
	// created_at and id (an index-only scan, reading the table only for
	// pages not yet marked all-visible by vacuum), so the posts skipped are
	// index entries walked, not rows read and joined; then only the page's
	// posts are read and joined with their creators. A deep page still walks
	// offset entries.
	pageQuery = `SELECT ` + postColumns + `
		FROM (SELECT id FROM posts ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2) page
		JOIN posts p ON p.id = page.id JOIN users u ON u.id = p.creator_id
		ORDER BY p.created_at DESC, p.id DESC`
)

func scanPost(row pgx.Row) (*feed.Post, error) {
	var p feed.Post
	if err := row.Scan(&p.ID, &p.Title, &p.Content, &p.ImageURL, &p.Creator.ID, &p.Creator.Name,
		&p.CreatedAt, &p.UpdatedAt); err != nil {
		return nil, mapErr(err)
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return &p, nil
}

// CreatePost implements feed.Store.
func (s *Store) CreatePost(ctx context.Context, p *feed.Post) error {
	// One statement: the insert and the creator's name, atomically; no row
	// back means the creator does not exist.
	err := s.pool.QueryRow(ctx, `WITH ins AS (
			INSERT INTO posts (id, title, content, image_url, creator_id, created_at, updated_at)
			SELECT $1, $2, $3, $4, u.id, $6, $7 FROM users u WHERE u.id = $5
			RETURNING creator_id)
		SELECT u.name FROM ins JOIN users u ON u.id = ins.creator_id`,
		p.ID, p.Title, p.Content, p.ImageURL, p.Creator.ID, p.CreatedAt, p.UpdatedAt).Scan(&p.Creator.Name)
	if err != nil {
		return fmt.Errorf("postgres: create post: %w", commitErr(err))
	}
	return nil
}

// Post implements feed.Store.
func (s *Store) Post(ctx context.Context, id string) (*feed.Post, error) {
	p, err := scanPost(s.pool.QueryRow(ctx, postQuery+` WHERE p.id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("postgres: post: %w", err)
	}
	return p, nil
}

// Posts implements feed.Store.
func (s *Store) Posts(ctx context.Context, offset, limit int) (posts []feed.Post, total int, err error) {
	defer wrap(&err, "postgres: posts")
	// REPEATABLE READ: the count and the page come from one snapshot.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, 0, mapErr(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// The count is the one kept by triggers in post_counts (migration 0002:
	// why it has several rows), not count(*), which reads the whole table.
	if err := tx.QueryRow(ctx, `SELECT coalesce(sum(n), 0)::bigint FROM post_counts`).Scan(&total); err != nil {
		return nil, 0, mapErr(err)
	}
	rows, err := tx.Query(ctx, pageQuery, limit, offset)
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
	if err := tx.Commit(ctx); err != nil {
		return nil, 0, mapErr(err)
	}
	return posts, total, nil
}

// ownedPost locks a post's row in tx and checks that userID created it.
func ownedPost(ctx context.Context, tx pgx.Tx, userID, postID string) (image string, err error) {
	var creator string
	if err := tx.QueryRow(ctx, `SELECT creator_id, image_url FROM posts WHERE id = $1 FOR UPDATE`, postID).
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
	defer wrap(&err, "postgres: update post")
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, "", mapErr(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	old, err = ownedPost(ctx, tx, userID, u.ID)
	if err != nil {
		return nil, "", err
	}
	image := u.ImageURL
	if image == "" {
		image = old
	}
	if _, err := tx.Exec(ctx, `UPDATE posts SET title = $1, content = $2, image_url = $3, updated_at = $4 WHERE id = $5`,
		u.Title, u.Content, image, u.UpdatedAt, u.ID); err != nil {
		return nil, "", mapErr(err)
	}
	post, err = scanPost(tx.QueryRow(ctx, postQuery+` WHERE p.id = $1`, u.ID))
	if err != nil {
		return nil, "", err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, "", commitErr(err)
	}
	return post, old, nil
}

// DeletePost implements feed.Store.
func (s *Store) DeletePost(ctx context.Context, userID, postID string) (post *feed.Post, err error) {
	defer wrap(&err, "postgres: delete post")
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := ownedPost(ctx, tx, userID, postID); err != nil {
		return nil, err
	}
	post, err = scanPost(tx.QueryRow(ctx, postQuery+` WHERE p.id = $1`, postID))
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM posts WHERE id = $1`, postID); err != nil {
		return nil, mapErr(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, mapErr(err)
	}
	return post, nil
}

func wrap(err *error, msg string) {
	if *err != nil {
		*err = fmt.Errorf("%s: %w", msg, *err)
	}
}

// commitErr maps the error of the statement that commits a write: as
// mapErr, and when the connection failed once the statement may have
// reached the server (not a failure to connect, and the driver cannot say it
// was never sent), also
// feed.ErrOutcomeUnknown: the write may have committed.
func commitErr(err error) error {
	m := mapErr(err)
	var connErr *pgconn.ConnectError
	if errors.Is(m, feed.ErrUnavailable) && !pgconn.SafeToRetry(err) && !errors.As(err, &connErr) {
		return fmt.Errorf("%w: %w", feed.ErrOutcomeUnknown, m)
	}
	return m
}

// mapErr gives PostgreSQL errors the feed's meaning: no rows and a foreign
// key violation are ErrNotFound; a connection that fails or was lost (the
// driver's errors for that are of several kinds), a server shutting down or
// out of resources is ErrUnavailable.
func mapErr(err error) error {
	var pgErr *pgconn.PgError
	var connErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return feed.ErrNotFound
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &pgErr):
		switch {
		case pgErr.Code == "23503":
			return fmt.Errorf("%w: %w", feed.ErrNotFound, err)
		case strings.HasPrefix(pgErr.Code, "08"), strings.HasPrefix(pgErr.Code, "53"),
			strings.HasPrefix(pgErr.Code, "57P"):
			return fmt.Errorf("%w: %w", feed.ErrUnavailable, err)
		}
		return err
	case errors.As(err, &connErr), errors.As(err, &netErr), pgconn.Timeout(err), pgconn.SafeToRetry(err),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %w", feed.ErrUnavailable, err)
	}
	return err
}
