// Package server assembles the feed service: a store chosen by
// configuration, the REST API of feed/httpapi, the Socket.IO endpoint that
// pushes every committed change as a "posts" event, the web UI, /healthz,
// request logs and graceful shutdown, all on one port. With a cluster
// adapter (Config.Adapter: PostgreSQL or Redis, see ParseAdapter) several
// instances on one database push each other's events to their clients.
//
// New builds a Server from a Config; Serve runs it on a listener until its
// context ends; Run does both on Config.Addr. Handler gives the whole service
// as an http.Handler, for tests.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/feed"
	"github.com/heraldio/herald/feed/httpapi"
	"github.com/heraldio/herald/feed/postgres"
	"github.com/heraldio/herald/feed/sqlite"
	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/web"
)

// Config configures the service. The zero value runs with SQLite in ./data.
type Config struct {
	// Addr is the address to listen on (Run only). Empty means ":8080".
	Addr string
	// DataDir holds the SQLite database, the images and the generated JWT
	// secret. Empty means "./data".
	DataDir string
	// DatabaseURL selects the store: empty means SQLite in DataDir;
	// "postgres://…" or "postgresql://…" means PostgreSQL.
	DatabaseURL string
	// JWTSecret signs the tokens. Empty means a random secret generated once
	// and kept in DataDir/jwt-secret (mode 0600), with a warning.
	JWTSecret string
	// CORSOrigins are the origins allowed to open Socket.IO connections from
	// a browser; credentials are allowed. Empty means any origin, echoed.
	CORSOrigins []string
	// Adapter selects the Socket.IO adapter that shares the live events
	// between instances (see ParseAdapter): empty means in memory (one
	// instance), "postgres" the PostgreSQL adapter on DatabaseURL's
	// database, "redis://host:port/db[?mode=sharded]" the Redis adapter.
	// New waits until a cluster adapter is subscribed (AdapterTimeout), so
	// that a listening instance never misses another's events.
	Adapter string
	// AdapterTimeout bounds the connection to the cluster adapter's
	// Redis or PostgreSQL at startup. Zero means 30s.
	AdapterTimeout time.Duration
	// Logger receives the logs. Nil means slog.Default().
	Logger *slog.Logger
	// BcryptCost is the cost of password hashes. Zero means 12.
	BcryptCost int
	// MaxImageBytes bounds an uploaded image. Zero means 10 MB.
	MaxImageBytes int64
	// OnListening, when set, is called by Run with the address it listens on
	// (the real port when Addr asked for port 0), before serving.
	OnListening func(addr string)
	// ShutdownTimeout bounds the graceful shutdown once the context of Serve
	// ends. Zero means 15s.
	ShutdownTimeout time.Duration
	// LoginLimit bounds failed logins per account and per client address
	// (POST /auth/login answers 429 beyond it). The zero value means 5 per
	// account and 20 per address in 15 minutes, addresses read from the
	// connection; see httpapi.LoginLimit.
	LoginLimit httpapi.LoginLimit
	// SQLite tunes the SQLite store (when DatabaseURL is empty): how long a
	// write waits for a locked file before the request fails with 503. The
	// zero value means a busy timeout of 10s and a write timeout of 30s;
	// see sqlite.Options.
	SQLite sqlite.Options
}

// Server is the assembled feed service.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   feed.Store
	svc     *feed.Service
	io      *socketio.Server
	adapter *clusterAdapter
	handler http.Handler
}

// New opens the store (applying its migrations), loads or creates the JWT
// secret and builds the handlers. Close the Server, or Serve it, to release
// the store.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = "./data"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 15 * time.Second
	}
	if cfg.AdapterTimeout <= 0 {
		cfg.AdapterTimeout = 30 * time.Second
	}
	cfg.CORSOrigins = append([]string(nil), cfg.CORSOrigins...)
	log := cfg.Logger
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	spec, err := ParseAdapter(cfg.Adapter, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	secret, err := loadSecret(cfg.JWTSecret, cfg.DataDir, log)
	if err != nil {
		return nil, err
	}
	store, err := openStore(ctx, cfg.DatabaseURL, cfg.DataDir, cfg.SQLite)
	if err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, cfg.AdapterTimeout)
	defer cancel()
	adapter, err := openAdapter(actx, spec, cfg.DatabaseURL, log)
	if err != nil {
		store.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, store: store, adapter: adapter}

	origins := cfg.CORSOrigins
	if len(origins) == 0 {
		origins = []string{"*"} // with Credentials: the request's origin is echoed, never "*"
	}
	s.io = socketio.NewServer(&socketio.Options{
		Engine: &engineio.Options{
			CORS:   &engineio.CORSOptions{Origins: origins, Credentials: true},
			Logger: log,
		},
		Adapter: adapter.make,
		Logger:  log,
	})
	if err := adapter.ready(actx, s.io); err != nil {
		s.Close(ctx)
		return nil, fmt.Errorf("adapter %s: not subscribed within %v: %w", spec, cfg.AdapterTimeout, err)
	}
	log.Info("socket.io adapter on", "adapter", spec.String())
	s.svc = feed.NewService(store, &feed.ServiceOptions{BcryptCost: cfg.BcryptCost, OnChange: s.emit})
	api, err := httpapi.New(httpapi.Options{
		Service: s.svc, Secret: secret, ImagesDir: filepath.Join(cfg.DataDir, "images"),
		MaxImageBytes: cfg.MaxImageBytes, Logger: log, LoginLimit: cfg.LoginLimit,
	})
	if err != nil {
		s.Close(ctx)
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", s.io)
	mux.Handle("/auth/", api)
	mux.Handle("/feed/", api)
	mux.Handle("/images/", api)
	mux.HandleFunc("/healthz", s.healthz)
	mux.Handle("/", uiHeaders(web.Handler()))
	s.handler = s.logRequests(mux)
	return s, nil
}

// emit pushes a committed change to every client of the main namespace.
func (s *Server) emit(e feed.Event) {
	if err := s.io.Emit("posts", e.Payload()); err != nil {
		s.log.Error("emit posts event", "action", e.Action, "post", e.Post.ID, "err", err)
	}
}

// Handler returns the whole service as one http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Store returns the server's store.
func (s *Server) Store() feed.Store { return s.store }

// SocketIO returns the Socket.IO server.
func (s *Server) SocketIO() *socketio.Server { return s.io }

// Close disconnects the Socket.IO clients with reason "server shutting
// down" (waiting until ctx is done at most), which also closes the adapter
// of each namespace (a cluster adapter says goodbye to its peers), then
// closes the adapter's connection and the store.
func (s *Server) Close(ctx context.Context) error {
	ioErr := s.io.Close(ctx)
	if ioErr != nil {
		ioErr = fmt.Errorf("close socket.io: %w", ioErr)
	}
	adErr := s.adapter.close(ctx)
	if adErr != nil {
		adErr = fmt.Errorf("close adapter: %w", adErr)
	}
	storeErr := s.store.Close()
	if storeErr != nil {
		storeErr = fmt.Errorf("close store: %w", storeErr)
	}
	return errors.Join(ioErr, adErr, storeErr)
}

// Serve serves on ln until ctx ends, then shuts down gracefully within
// ShutdownTimeout: it stops accepting, lets requests in flight finish while
// disconnecting the Socket.IO clients with "server shutting down", then
// closes the store. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		s.Close(context.Background())
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	// Long-polling requests in flight end only when their sessions close, so
	// the HTTP shutdown and the Socket.IO close run together.
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Shutdown(sctx) }()
	ioErr := s.io.Close(sctx)
	httpErr := <-httpDone
	<-errc // Serve returned http.ErrServerClosed
	adErr := s.adapter.close(sctx)
	storeErr := s.store.Close()
	if ioErr != nil || httpErr != nil || adErr != nil {
		s.log.Warn("shutdown cut short", "http", httpErr, "socketio", ioErr, "adapter", adErr)
	}
	if storeErr != nil {
		return fmt.Errorf("close store: %w", storeErr)
	}
	s.log.Info("stopped")
	return nil
}

// Run builds the service from cfg, listens on cfg.Addr, logs the address as
// "listening addr=HOST:PORT" and serves until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Addr == "" {
		cfg.Addr = ":8080"
	}
	s, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		s.Close(context.Background())
		return fmt.Errorf("listen: %w", err)
	}
	store := "sqlite"
	if cfg.DatabaseURL != "" {
		store = "postgres"
	}
	s.log.Info("listening", "addr", ln.Addr().String(), "store", store, "adapter", s.adapter.spec.Kind, "data_dir", s.cfg.DataDir)
	if cfg.OnListening != nil {
		cfg.OnListening(ln.Addr().String())
	}
	return s.Serve(ctx, ln)
}

func openStore(ctx context.Context, url, dataDir string, sqliteOpts sqlite.Options) (feed.Store, error) {
	switch {
	case url == "":
		s, err := sqlite.OpenWith(ctx, filepath.Join(dataDir, "feed.db"), &sqliteOpts)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil
	case isPostgresURL(url):
		s, err := postgres.Open(ctx, url)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil
	default:
		return nil, errors.New("database: want an empty value (SQLite) or a postgres:// URL")
	}
}

const secretFile = "jwt-secret"

// loadSecret returns the configured secret, or the one kept in dataDir,
// generating and saving it (mode 0600) the first time.
func loadSecret(configured, dataDir string, log *slog.Logger) ([]byte, error) {
	if configured != "" {
		return []byte(configured), nil
	}
	path := filepath.Join(dataDir, secretFile)
	b, err := os.ReadFile(path)
	if err == nil {
		if s := strings.TrimSpace(string(b)); len(s) >= 32 {
			return []byte(s), nil
		}
		return nil, fmt.Errorf("jwt secret file %s: too short", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("jwt secret: %w", err)
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	secret := hex.EncodeToString(raw[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("jwt secret: %w", err)
	}
	_, werr := f.WriteString(secret + "\n")
	serr := f.Sync()
	if err := errors.Join(werr, serr, f.Close()); err != nil {
		return nil, fmt.Errorf("jwt secret: %w", err)
	}
	log.Warn("no JWT secret configured: generated one and saved it; set --jwt-secret or HERALD_JWT_SECRET in production, and the same on every instance", "file", path)
	return []byte(secret), nil
}
