package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Defaults of LoginLimit.
const (
	DefaultLoginFailuresPerAccount = 5
	DefaultLoginFailuresPerIP      = 20
	DefaultLoginWindow             = 15 * time.Minute
	DefaultLoginMaxEntries         = 10_000
)

// LoginLimit bounds failed logins (401 answers of POST /auth/login), per
// account (the lower-cased email, known or not) and per client address. Once
// a key has reached its number of failures within Window, every login for it,
// right password or not, gets 429 with a Retry-After header until Window has
// passed since the first of those attempts began. Attempts in flight count as
// failures until they end, so parallel guesses cannot overshoot the limit.
// A successful login clears its account's failures, not its address's: one
// valid account cannot be used to reset an address's count.
//
// The zero value is the defaults: 5 failures per account and 20 per address
// in 15 minutes, 10,000 keys remembered per table.
type LoginLimit struct {
	// PerAccount is the number of failures allowed per account within
	// Window. Zero means 5; negative means no limit per account.
	PerAccount int
	// PerIP is the number of failures allowed per client address within
	// Window. Zero means 20; negative means no limit per address.
	PerIP int
	// Window is how long failures are remembered, and so the longest a
	// key stays blocked. Zero means 15 minutes.
	Window time.Duration
	// MaxEntries caps each table (accounts, addresses), so that memory stays
	// bounded under a flood of distinct emails or addresses. When a table is
	// full, expired entries are dropped first, then entries that are not
	// blocked, then any. Zero means 10,000 (about 3 MB for both tables at
	// worst).
	MaxEntries int
	// ClientIP returns the address a request is counted under. Nil means the
	// host of r.RemoteAddr, with IPv6 addresses grouped by /64. Behind a
	// reverse proxy, set it to read the proxy's header; otherwise every
	// client shares the proxy's address and limit.
	ClientIP func(r *http.Request) string
}

// withDefaults returns l with its zero fields filled.
func (l LoginLimit) withDefaults() LoginLimit {
	if l.PerAccount == 0 {
		l.PerAccount = DefaultLoginFailuresPerAccount
	}
	if l.PerIP == 0 {
		l.PerIP = DefaultLoginFailuresPerIP
	}
	if l.Window <= 0 {
		l.Window = DefaultLoginWindow
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultLoginMaxEntries
	}
	if l.ClientIP == nil {
		l.ClientIP = remoteIP
	}
	return l
}

// remoteIP is the host of r.RemoteAddr; an IPv6 address stands for its /64,
// which one client usually holds whole.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return groupIP(host)
}

// HeaderClientIP returns a LoginLimit.ClientIP that reads the client's
// address from the request header name, as a reverse proxy sets it
// (X-Real-IP, or X-Forwarded-For, whose last entry is the address the
// nearest proxy saw, the only one it vouches for). A request without the
// header, or whose entry is not an IP address, is counted under its
// r.RemoteAddr. Use it only behind a proxy that sets the header on every
// request: a client that reaches the service directly can write any value.
func HeaderClientIP(name string) func(r *http.Request) string {
	name = http.CanonicalHeaderKey(name)
	return func(r *http.Request) string {
		vals := r.Header.Values(name)
		if len(vals) == 0 {
			return remoteIP(r)
		}
		last := vals[len(vals)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		last = strings.TrimSpace(last)
		if _, err := netip.ParseAddr(last); err != nil {
			return remoteIP(r)
		}
		return groupIP(last)
	}
}

// groupIP is host's canonical form when it is an IP address, an IPv6
// address standing for its /64; host itself otherwise.
func groupIP(host string) string {
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// limiter counts login failures. It is safe for concurrent use.
type limiter struct {
	cfg      LoginLimit
	now      func() time.Time
	mu       sync.Mutex
	accounts counterTable
	ips      counterTable
}

// counter is one key's failures since start, and its attempts in flight.
type counter struct {
	failures int
	inFlight int
	start    time.Time
}

type counterTable map[string]*counter

func newLimiter(cfg LoginLimit, now func() time.Time) *limiter {
	return &limiter{cfg: cfg.withDefaults(), now: now,
		accounts: counterTable{}, ips: counterTable{}}
}

// begin admits a login attempt for account from ip. When either key is
// blocked it returns ok false and how long until no block remains.
// Otherwise the attempt is counted as in flight until end is called with
// its outcome.
func (l *limiter) begin(account, ip string) (end func(failed, succeeded bool), retryAfter time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	a := l.accounts.get(account, now, l.cfg)
	i := l.ips.get(ip, now, l.cfg)
	blocked := false
	for _, c := range []struct {
		c     *counter
		limit int
	}{{a, l.cfg.PerAccount}, {i, l.cfg.PerIP}} {
		if c.limit > 0 && c.c != nil && c.c.failures+c.c.inFlight >= c.limit {
			retryAfter = max(retryAfter, c.c.start.Add(l.cfg.Window).Sub(now))
			blocked = true
		}
	}
	if blocked {
		return nil, max(retryAfter, time.Second), false
	}
	a = l.accounts.add(account, now, l.cfg, l.cfg.PerAccount)
	i = l.ips.add(ip, now, l.cfg, l.cfg.PerIP)
	a.inFlight++
	i.inFlight++
	var once sync.Once
	return func(failed, succeeded bool) {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			a.inFlight--
			i.inFlight--
			switch {
			case failed:
				a.failures++
				i.failures++
			case succeeded:
				a.failures = 0
			}
			// An entry with nothing to remember goes; one evicted meanwhile
			// is simply not in the table any more.
			for _, t := range []struct {
				t   counterTable
				key string
				c   *counter
			}{{l.accounts, account, a}, {l.ips, ip, i}} {
				if t.c.failures == 0 && t.c.inFlight == 0 && t.t[t.key] == t.c {
					delete(t.t, t.key)
				}
			}
		})
	}, 0, true
}

// get returns key's live counter, nil when there is none or it expired.
func (t counterTable) get(key string, now time.Time, cfg LoginLimit) *counter {
	c := t[key]
	if c == nil {
		return nil
	}
	if c.inFlight == 0 && !now.Before(c.start.Add(cfg.Window)) {
		delete(t, key)
		return nil
	}
	return c
}

// add returns key's counter, creating it (and making room for it) when
// needed. A table whose limit is off still tracks attempts, harmlessly.
func (t counterTable) add(key string, now time.Time, cfg LoginLimit, limit int) *counter {
	if c := t.get(key, now, cfg); c != nil {
		if c.failures == 0 {
			c.start = now
		}
		return c
	}
	if len(t) >= cfg.MaxEntries {
		t.makeRoom(now, cfg, limit)
	}
	c := &counter{start: now}
	t[key] = c
	return c
}

// makeRoom drops expired entries; if the table is still full, it drops
// entries that are not blocked, and as a last resort any, until a tenth of
// the table is free, so that the scan is paid once per many insertions.
func (t counterTable) makeRoom(now time.Time, cfg LoginLimit, limit int) {
	for k, c := range t {
		if c.inFlight == 0 && !now.Before(c.start.Add(cfg.Window)) {
			delete(t, k)
		}
	}
	target := cfg.MaxEntries - max(cfg.MaxEntries/10, 1)
	for _, blockedToo := range []bool{false, true} {
		for k, c := range t {
			if len(t) <= target {
				return
			}
			if blockedToo || limit <= 0 || c.failures+c.inFlight < limit {
				delete(t, k)
			}
		}
	}
}

// size reports the number of entries in both tables, for tests.
func (l *limiter) size() (accounts, ips int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.accounts), len(l.ips)
}
