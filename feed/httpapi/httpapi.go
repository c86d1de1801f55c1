// Package httpapi serves the feed's REST API (shared/docs/feed-api.md): the
// /auth, /feed and /images routes, with the contract's CORS headers, JSON
// bodies and error format. Handler is an http.Handler; mount it for those
// three path prefixes. Live events are not its business: the feed.Service it
// is given reports changes through its OnChange hook.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/heraldio/herald/feed"
)

// Defaults of Options.
const (
	DefaultMaxImageBytes = 10_000_000 // 10 MB
	DefaultMaxJSONBytes  = 1 << 20    // 1 MiB
	DefaultTokenTTL      = time.Hour
)

// Options configures New. Service, Secret and ImagesDir are required.
type Options struct {
	// Service carries out the requests.
	Service *feed.Service
	// Secret signs and checks the HS256 tokens.
	Secret []byte
	// ImagesDir is where uploaded images are stored, under generated names.
	// New creates it.
	ImagesDir string
	// MaxImageBytes bounds an uploaded image; larger uploads get 413. Zero
	// means DefaultMaxImageBytes (10 MB).
	MaxImageBytes int64
	// MaxJSONBytes bounds a JSON request body; larger bodies get 413. Zero
	// means DefaultMaxJSONBytes (1 MiB).
	MaxJSONBytes int64
	// TokenTTL is the lifetime of issued tokens. Zero means one hour.
	TokenTTL time.Duration
	// LoginLimit bounds failed logins per account and per client address;
	// its zero value is the defaults (5 per account and 20 per address in
	// 15 minutes). See LoginLimit.
	LoginLimit LoginLimit
	// Logger receives errors that are not the client's. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Handler serves the REST API. It is safe for concurrent use.
type Handler struct {
	opts  Options
	svc   *feed.Service
	mux   *http.ServeMux
	log   *slog.Logger
	limit *limiter
}

// New returns the API handler, creating opts.ImagesDir if needed and removing
// upload temporary files a previous run left there.
func New(opts Options) (*Handler, error) {
	if opts.Service == nil || len(opts.Secret) == 0 || opts.ImagesDir == "" {
		return nil, errors.New("httpapi: Service, Secret and ImagesDir are required")
	}
	if opts.MaxImageBytes <= 0 {
		opts.MaxImageBytes = DefaultMaxImageBytes
	}
	if opts.MaxJSONBytes <= 0 {
		opts.MaxJSONBytes = DefaultMaxJSONBytes
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(opts.ImagesDir, 0o750); err != nil {
		return nil, fmt.Errorf("httpapi: images dir: %w", err)
	}
	removeStaleUploads(opts.ImagesDir, opts.Logger)
	h := &Handler{opts: opts, svc: opts.Service, mux: http.NewServeMux(), log: opts.Logger,
		limit: newLimiter(opts.LoginLimit, time.Now)}
	h.mux.HandleFunc("PUT /auth/signup", h.signup)
	h.mux.HandleFunc("POST /auth/login", h.login)
	h.mux.HandleFunc("GET /auth/status", h.authed(h.status))
	h.mux.HandleFunc("PATCH /auth/status", h.authed(h.setStatus))
	h.mux.HandleFunc("GET /feed/posts", h.authed(h.posts))
	h.mux.HandleFunc("POST /feed/post", h.authed(h.createPost))
	h.mux.HandleFunc("GET /feed/post/{postId}", h.authed(h.post))
	h.mux.HandleFunc("PUT /feed/post/{postId}", h.authed(h.updatePost))
	h.mux.HandleFunc("DELETE /feed/post/{postId}", h.authed(h.deletePost))
	h.mux.HandleFunc("GET /images/{name}", h.image)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, message{"Not found."})
	})
	return h, nil
}

// ServeHTTP adds the contract's CORS headers and the security headers to
// every response, answers any OPTIONS request with 200, and routes the rest.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	SetCORS(hdr)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	hdr.Set("Referrer-Policy", "no-referrer")
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusOK)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// SetCORS sets the CORS headers the contract puts on every API response.
func SetCORS(hdr http.Header) {
	hdr.Set("Access-Control-Allow-Origin", "*")
	hdr.Set("Access-Control-Allow-Methods", "OPTIONS, GET, POST, PUT, PATCH, DELETE")
	hdr.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
}

type message struct {
	Message string `json:"message"`
}

type errorBody struct {
	Message string            `json:"message"`
	Data    []feed.FieldError `json:"data,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// statuses maps each error code to its HTTP status, once.
var statuses = map[feed.Code]int{
	feed.EBadRequest:      http.StatusBadRequest,
	feed.EInvalid:         http.StatusUnprocessableEntity,
	feed.EUnauthenticated: http.StatusUnauthorized,
	feed.EForbidden:       http.StatusForbidden,
	feed.ENotFound:        http.StatusNotFound,
	feed.ETooLarge:        http.StatusRequestEntityTooLarge,
	feed.ETooMany:         http.StatusTooManyRequests,
	feed.EUnavailable:     http.StatusServiceUnavailable,
	feed.EInternal:        http.StatusInternalServerError,
}

// writeError writes err in the contract's error format. The detail of
// internal and unavailable errors is logged, never sent.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := feed.ErrorCode(err)
	status, ok := statuses[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if code == feed.EInternal || code == feed.EUnavailable {
		h.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, errorBody{Message: feed.ErrorMessage(err), Data: feed.ErrorData(err)})
}

var errNotAuthenticated = feed.Errorf(feed.EUnauthenticated, "Not authenticated.")

// readJSON decodes a JSON object body into its fields, bounded by
// MaxJSONBytes. A body that is not JSON (by Content-Type) has no fields, as
// with the original's body parser; unknown fields are ignored.
func (h *Handler) readJSON(w http.ResponseWriter, r *http.Request) (fields, error) {
	if !isJSON(r.Header.Get("Content-Type")) {
		return fields{}, nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.opts.MaxJSONBytes)
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(time.Minute))
	var m map[string]any
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&m); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, feed.Errorf(feed.ETooLarge, "Request body too large: the limit is %s.", formatBytes(h.opts.MaxJSONBytes))
		}
		if errors.Is(err, io.EOF) {
			return fields{}, nil
		}
		return nil, &feed.Error{Code: feed.EBadRequest, Message: "Invalid JSON body.", Err: err}
	}
	f := fields{}
	for k, v := range m {
		switch v := v.(type) {
		case string:
			f[k] = v
		case float64:
			f[k] = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			f[k] = strconv.FormatBool(v)
		}
	}
	return f, nil
}

// fields are a request's text fields.
type fields map[string]string

// get returns a field, nil when missing.
func (f fields) get(name string) *string {
	v, ok := f[name]
	if !ok {
		return nil
	}
	return &v
}

func isJSON(contentType string) bool {
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

func formatBytes(n int64) string {
	switch {
	case n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n%1_000_000 == 0:
		return strconv.FormatInt(n/1_000_000, 10) + " MB"
	case n%1000 == 0:
		return strconv.FormatInt(n/1000, 10) + " kB"
	default:
		return strconv.FormatInt(n, 10) + " bytes"
	}
}
