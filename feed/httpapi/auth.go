package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldio/herald/feed"
)

// claims are the token's claims: email, userId, iat and exp, as the
// original service signed them.
type claims struct {
	Email  string `json:"email"`
	UserID string `json:"userId"`
	jwt.RegisteredClaims
}

// issueToken signs an HS256 token for u, valid for TokenTTL.
func (h *Handler) issueToken(u *feed.User) (string, error) {
	now := time.Now()
	c := claims{Email: u.Email, UserID: u.ID, RegisteredClaims: jwt.RegisteredClaims{
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(h.opts.TokenTTL)),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(h.opts.Secret)
}

// userID checks the request's bearer token and returns its userId. Any
// failure (no header, another scheme, a malformed, expired or badly signed
// token, no exp claim, an algorithm other than HS256) is errNotAuthenticated.
// iat is not checked against the clock, so that instances whose clocks differ
// slightly accept each other's fresh tokens.
func (h *Handler) userID(r *http.Request) (string, error) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errNotAuthenticated
	}
	var c claims
	_, err := jwt.ParseWithClaims(strings.TrimSpace(token), &c, func(*jwt.Token) (any, error) {
		return h.opts.Secret, nil
	}, jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	if err != nil || !feed.ValidID(c.UserID) {
		return "", errNotAuthenticated
	}
	return c.UserID, nil
}

type userKey struct{}

// authed runs next only for a request with a valid token, with the user's
// id in its context (see requestUser).
func (h *Handler) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := h.userID(r)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), userKey{}, id)))
	}
}

func requestUser(r *http.Request) string {
	id, _ := r.Context().Value(userKey{}).(string)
	return id
}
