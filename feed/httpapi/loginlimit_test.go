package httpapi_test

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/heraldio/herald/feed/httpapi"
)

const tooMany = "Too many failed login attempts, please try again later."

// expectBlocked checks a 429 with the contract's body and a Retry-After
// within the window.
func expectBlocked(t *testing.T, r result, what string) {
	t.Helper()
	if r.status != http.StatusTooManyRequests || r.str("message") != tooMany {
		t.Fatalf("%s: %d %s; want 429 %q", what, r.status, r.body, tooMany)
	}
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > int(httpapi.DefaultLoginWindow.Seconds()) {
		t.Errorf("%s: Retry-After %q, want 1..%d seconds", what, r.header.Get("Retry-After"), int(httpapi.DefaultLoginWindow.Seconds()))
	}
}

// TestLoginLimitPerAccount: with the defaults, the sixth login of an account
// after five wrong passwords gets 429 even with the right password, from any
// address; other accounts are not affected; a success before the limit
// clears the account's count.
func TestLoginLimitPerAccount(t *testing.T) {
	a := newAPI(t)
	a.signup("victim@example.com", "right-password")
	a.signup("other@example.com", "right-password")

	// Four failures, then a success: the count starts again.
	for range 4 {
		if r := a.login("10.0.0.1", "victim@example.com", "wrong"); r.status != 401 {
			t.Fatalf("wrong password: %d %s", r.status, r.body)
		}
	}
	if r := a.login("10.0.0.1", "Victim@Example.com", "right-password"); r.status != 200 {
		t.Fatalf("right password after 4 failures: %d %s", r.status, r.body)
	}
	for i := range httpapi.DefaultLoginFailuresPerAccount {
		// Each from another address: the account is what is counted.
		if r := a.login(fmt.Sprintf("10.0.1.%d", i), "victim@example.com", "wrong"); r.status != 401 {
			t.Fatalf("failure %d after the reset: %d %s", i+1, r.status, r.body)
		}
	}
	expectBlocked(t, a.login("10.0.2.1", "victim@example.com", "right-password"), "right password once blocked")
	expectBlocked(t, a.login("10.0.2.2", "VICTIM@example.com ", "wrong"), "another case of the email")
	if r := a.login("10.0.0.1", "other@example.com", "right-password"); r.status != 200 {
		t.Errorf("another account: %d %s", r.status, r.body)
	}
	// Unknown emails are counted too, so probing them is bounded the same way.
	for range httpapi.DefaultLoginFailuresPerAccount {
		a.login("10.0.3.1", "nobody@example.com", "x")
	}
	expectBlocked(t, a.login("10.0.3.2", "nobody@example.com", "x"), "unknown email")
}

// TestLoginLimitPerIP: one address gets 429 after 20 failures whatever the
// accounts, and its success with a valid account does not reset that.
// Other addresses are not affected.
func TestLoginLimitPerIP(t *testing.T) {
	a := newAPI(t)
	a.signup("mine@example.com", "right-password")
	for i := range httpapi.DefaultLoginFailuresPerIP {
		if i == 10 {
			if r := a.login("192.0.2.7", "mine@example.com", "right-password"); r.status != 200 {
				t.Fatalf("own account in the middle: %d %s", r.status, r.body)
			}
		}
		if r := a.login("192.0.2.7", fmt.Sprintf("user%d@example.com", i), "guess"); r.status != 401 {
			t.Fatalf("failure %d: %d %s", i+1, r.status, r.body)
		}
	}
	expectBlocked(t, a.login("192.0.2.7", "fresh@example.com", "guess"), "address over its limit")
	expectBlocked(t, a.login("192.0.2.7", "mine@example.com", "right-password"), "address over its limit, right password")
	if r := a.login("192.0.2.8", "mine@example.com", "right-password"); r.status != 200 {
		t.Errorf("another address: %d %s", r.status, r.body)
	}
	// IPv6 clients are counted by /64: changing the low bits does not help.
	for i := range httpapi.DefaultLoginFailuresPerIP {
		a.login(fmt.Sprintf("2001:db8:1:2::%x", i+1), fmt.Sprintf("v6-%d@example.com", i), "guess")
	}
	expectBlocked(t, a.login("2001:db8:1:2:ffff::1", "v6-new@example.com", "guess"), "same IPv6 /64")
}

// TestLoginLimitParallel: 50 parallel wrong guesses for one account from
// different addresses get at most 5 answers other than 429, because
// attempts in flight count.
func TestLoginLimitParallel(t *testing.T) {
	a := newAPI(t)
	a.signup("target@example.com", "right-password")
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			r := a.login(fmt.Sprintf("10.9.0.%d", i), "target@example.com", "wrong")
			mu.Lock()
			counts[r.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts[401] > httpapi.DefaultLoginFailuresPerAccount || counts[401]+counts[429] != 50 {
		t.Errorf("answers %v; want at most %d 401 and the rest 429", counts, httpapi.DefaultLoginFailuresPerAccount)
	}
	t.Logf("50 parallel guesses: %v", counts)
}

// TestLoginLimitOptions: the limits are options; a negative limit turns one
// off, and ClientIP chooses the address (here from a proxy's header).
func TestLoginLimitOptions(t *testing.T) {
	a := newAPI(t, func(o *httpapi.Options) {
		o.LoginLimit = httpapi.LoginLimit{PerAccount: -1, PerIP: 2,
			ClientIP: func(r *http.Request) string { return r.Header.Get("X-Test-Client") }}
	})
	a.signup("opt@example.com", "right-password")
	send := func(client string) result {
		req := newJSONRequest("POST", "/auth/login", `{"email":"opt@example.com","password":"wrong"}`)
		req.Header.Set("X-Test-Client", client)
		return a.serve(req)
	}
	for range 2 {
		if r := send("a"); r.status != 401 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	expectBlocked(t, send("a"), "client a after 2 failures")
	// No per-account limit: ten more failures of the account, each from
	// another client, are all plain 401s.
	for i := range 10 {
		if r := send(fmt.Sprint("b", i)); r.status != 401 {
			t.Fatalf("client b%d with the account limit off: %d %s", i, r.status, r.body)
		}
	}
}

// TestLoginLimitIgnoresOtherErrors: malformed bodies (400) are not guesses and do not block anyone.
func TestLoginLimitIgnoresOtherErrors(t *testing.T) {
	a := newAPI(t)
	a.signup("ok@example.com", "right-password")
	for range 30 {
		if r := a.do("POST", "/auth/login", "", "10.1.1.1", `{"email":`); r.status != 400 {
			t.Fatalf("malformed: %d %s", r.status, r.body)
		}
	}
	if r := a.login("10.1.1.1", "ok@example.com", "right-password"); r.status != 200 {
		t.Errorf("after malformed bodies: %d %s", r.status, r.body)
	}
}
