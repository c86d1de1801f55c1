package httpapi

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// TestLimiterWindow: a block ends when the window since the first failure
// has passed, with Retry-After counting down to it.
func TestLimiterWindow(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := newLimiter(LoginLimit{PerAccount: 3, PerIP: -1, Window: time.Minute}, clk.now)
	fail := func() {
		end, _, ok := l.begin("acct", "ip")
		if !ok {
			t.Fatal("blocked too early")
		}
		end(true, false)
	}
	for range 3 {
		fail()
		clk.t = clk.t.Add(10 * time.Second)
	}
	_, retry, ok := l.begin("acct", "ip")
	if ok || retry != 30*time.Second {
		t.Fatalf("after 3 failures: ok %v, retry %v; want blocked for 30s", ok, retry)
	}
	clk.t = clk.t.Add(29 * time.Second)
	if _, retry, ok = l.begin("acct", "ip"); ok || retry != time.Second {
		t.Fatalf("1s before the end: ok %v, retry %v", ok, retry)
	}
	clk.t = clk.t.Add(time.Second)
	end, _, ok := l.begin("acct", "ip")
	if !ok {
		t.Fatal("still blocked after the window")
	}
	end(false, true)
	if a, i := l.size(); a != 0 || i != 0 {
		t.Errorf("after a success: %d accounts, %d addresses remembered; want none", a, i)
	}
}

// TestLimiterBounded: a flood of distinct keys never grows a table past
// MaxEntries, and blocked keys survive eviction while unblocked ones exist.
func TestLimiterBounded(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := newLimiter(LoginLimit{PerAccount: 2, PerIP: 1000, MaxEntries: 100}, clk.now)
	for range 2 {
		end, _, _ := l.begin("victim", "attacker")
		end(true, false)
	}
	for i := range 10_000 {
		end, _, ok := l.begin(fmt.Sprint("random", i), fmt.Sprint("ip", i))
		if !ok {
			t.Fatalf("key %d blocked", i)
		}
		end(true, false)
		if a, ip := l.size(); a > 100 || ip > 100 {
			t.Fatalf("after %d keys: %d accounts, %d addresses; cap 100", i, a, ip)
		}
	}
	if _, _, ok := l.begin("victim", "elsewhere"); ok {
		t.Error("the blocked account was evicted by unblocked ones")
	}
	// Everything expires.
	clk.t = clk.t.Add(DefaultLoginWindow)
	end, _, ok := l.begin("victim", "elsewhere")
	if !ok {
		t.Fatal("blocked after the window")
	}
	end(false, true)
}

func TestHeaderClientIP(t *testing.T) {
	ip := HeaderClientIP("x-forwarded-for")
	for _, tc := range []struct {
		remote string
		vals   []string
		want   string
	}{
		{"192.0.2.1:5000", nil, "192.0.2.1"},
		{"192.0.2.1:5000", []string{"198.51.100.9"}, "198.51.100.9"},
		{"192.0.2.1:5000", []string{"1.1.1.1, 198.51.100.9"}, "198.51.100.9"},               // the nearest proxy's entry
		{"192.0.2.1:5000", []string{"1.1.1.1", "10.0.0.1 , 198.51.100.9 "}, "198.51.100.9"}, // repeated header: the last
		{"192.0.2.1:5000", []string{"2001:db8:1:2:3:4:5:6"}, "2001:db8:1:2::/64"},
		{"192.0.2.1:5000", []string{"::ffff:198.51.100.9"}, "198.51.100.9"},
		{"192.0.2.1:5000", []string{"not an address"}, "192.0.2.1"},
		{"192.0.2.1:5000", []string{""}, "192.0.2.1"},
	} {
		r := httptest.NewRequest("POST", "/auth/login", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.vals {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := ip(r); got != tc.want {
			t.Errorf("%s with %q: %q, want %q", tc.remote, tc.vals, got, tc.want)
		}
	}
}
