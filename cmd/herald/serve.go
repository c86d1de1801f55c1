package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/heraldio/herald/feed/httpapi"
	"github.com/heraldio/herald/feed/server"
	"github.com/heraldio/herald/feed/sqlite"
)

// runServe runs the feed service until ctx ends (SIGINT or SIGTERM), then
// shuts it down gracefully. Each flag may also come from an environment
// variable; a flag given on the command line wins.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("herald serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", ":8080",
		"address to listen on, host:port (env HERALD_ADDR)")
	dataDir := fs.String("data-dir", "./data",
		"folder for the SQLite database, the uploaded images and the generated JWT secret (env HERALD_DATA_DIR)")
	database := fs.String("database", "",
		"empty: SQLite in the data folder; postgres://user@host:5432/db: PostgreSQL (env HERALD_DATABASE)")
	adapter := fs.String("adapter", "",
		"how several instances share the live events: empty: in memory (a single instance); postgres: the PostgreSQL adapter on the --database (which must then be postgres://…); "+
			"redis://[:password@]host:port[/db][?mode=classic|sharded][&key=prefix][&subscription=dynamic|static|dynamic-private]: the Redis adapter, classic pub/sub by default, "+
			"mode=sharded for SPUBLISH/SSUBSCRIBE (Redis 7), key the channel prefix (default socket.io), subscription the sharded channel mode (env HERALD_ADAPTER)")
	jwtSecret := fs.String("jwt-secret", "",
		"secret signing the login tokens (HS256); empty: generate one and keep it in the data folder (env HERALD_JWT_SECRET)")
	corsOrigin := fs.String("cors-origin", "",
		"comma-separated origins allowed to connect to /socket.io/ from a browser, with credentials; empty: any origin, echoed (env HERALD_CORS_ORIGIN)")
	logLevel := fs.String("log-level", "info",
		"log level: debug, info, warn or error (env HERALD_LOG_LEVEL)")
	loginPerAccount := fs.Int("login-limit-account", httpapi.DefaultLoginFailuresPerAccount,
		"failed logins allowed per account within --login-window before POST /auth/login answers 429; negative: no limit (env HERALD_LOGIN_LIMIT_ACCOUNT)")
	loginPerIP := fs.Int("login-limit-ip", httpapi.DefaultLoginFailuresPerIP,
		"failed logins allowed per client address (IPv6: per /64) within --login-window; negative: no limit (env HERALD_LOGIN_LIMIT_IP)")
	loginWindow := fs.Duration("login-window", httpapi.DefaultLoginWindow,
		"how long failed logins are counted, and so the longest a client waits after a 429 (env HERALD_LOGIN_WINDOW)")
	clientIPHeader := fs.String("client-ip-header", "",
		"header holding the client's address, set by a reverse proxy in front (X-Real-IP, or X-Forwarded-For whose last entry is used); "+
			"empty: the connection's address. Set it only behind such a proxy: a client reaching the service directly can write any value (env HERALD_CLIENT_IP_HEADER)")
	sqliteBusy := fs.Duration("sqlite-busy-timeout", sqlite.DefaultBusyTimeout,
		"SQLite store: how long a statement waits for a lock held by another process before the request fails with 503 (env HERALD_SQLITE_BUSY_TIMEOUT)")
	sqliteWrite := fs.Duration("sqlite-write-timeout", sqlite.DefaultWriteTimeout,
		"SQLite store: how long a whole write may take, its wait behind other writes included, before the request fails with 503; at least --sqlite-busy-timeout (env HERALD_SQLITE_WRITE_TIMEOUT)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: herald serve [flags]

Runs the feed service on one port: the REST API (/auth, /feed, /images), live
events at /socket.io/, the web UI at /, and /healthz. Logs go to stderr; a
line "listening addr=HOST:PORT" on stdout (and in the logs) tells where it
listens. SIGINT or SIGTERM shuts it down gracefully.

Several instances on one PostgreSQL database run as one service when they
share an --adapter (postgres, or the same redis:// URL), a --jwt-secret and
the images (one --data-dir on shared storage): a post created through one
reaches the clients of all. Each instance starts listening only once its
adapter is subscribed.

Flags (each also read from the environment variable named; a flag wins):
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err // flag.ErrHelp for --help: main exits 0
	}
	if err := applyEnv(fs, os.LookupEnv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	var origins []string
	for _, o := range strings.Split(*corsOrigin, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	if *loginPerAccount == 0 || *loginPerIP == 0 {
		return errors.New("--login-limit-account and --login-limit-ip: want a positive number of failures, or a negative one for no limit")
	}
	if *loginWindow <= 0 || *sqliteBusy <= 0 || *sqliteWrite <= 0 {
		return errors.New("--login-window, --sqlite-busy-timeout and --sqlite-write-timeout: want a positive duration")
	}
	limit := httpapi.LoginLimit{PerAccount: *loginPerAccount, PerIP: *loginPerIP, Window: *loginWindow}
	if h := strings.TrimSpace(*clientIPHeader); h != "" {
		limit.ClientIP = httpapi.HeaderClientIP(h)
	}
	return server.Run(ctx, server.Config{
		Addr:        *addr,
		DataDir:     *dataDir,
		DatabaseURL: *database,
		Adapter:     *adapter,
		JWTSecret:   *jwtSecret,
		CORSOrigins: origins,
		Logger:      logger,
		LoginLimit:  limit,
		SQLite:      sqlite.Options{BusyTimeout: *sqliteBusy, WriteTimeout: *sqliteWrite},
		// Whatever the log level, stdout tells where the service listens.
		OnListening: func(addr string) { fmt.Fprintf(stdout, "listening addr=%s\n", addr) },
	})
}

// envVars names the environment variable of each flag.
var envVars = map[string]string{
	"addr":        "HERALD_ADDR",
	"data-dir":    "HERALD_DATA_DIR",
	"database":    "HERALD_DATABASE",
	"adapter":     "HERALD_ADAPTER",
	"jwt-secret":  "HERALD_JWT_SECRET",
	"cors-origin": "HERALD_CORS_ORIGIN",
	"log-level":   "HERALD_LOG_LEVEL",

	"login-limit-account":  "HERALD_LOGIN_LIMIT_ACCOUNT",
	"login-limit-ip":       "HERALD_LOGIN_LIMIT_IP",
	"login-window":         "HERALD_LOGIN_WINDOW",
	"client-ip-header":     "HERALD_CLIENT_IP_HEADER",
	"sqlite-busy-timeout":  "HERALD_SQLITE_BUSY_TIMEOUT",
	"sqlite-write-timeout": "HERALD_SQLITE_WRITE_TIMEOUT",
}

// applyEnv sets each flag not given on the command line from its
// environment variable, if that is set. (Env values are not used as flag
// defaults, so that --help never prints a secret.)
func applyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, env := range envVars {
		if given[name] {
			continue
		}
		if v, ok := lookup(env); ok {
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("%s: %w", env, err)
			}
		}
	}
	return nil
}
