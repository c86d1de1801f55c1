// Command feedload measures the feed service from outside, through its
// public contract only (shared/docs/feed-api.md), so it can be pointed at
// any implementation of it:
//
//  1. seed: makes sure the feed holds at least --posts posts, creating the
//     missing ones through POST /feed/post (--seed-concurrency at once);
//  2. list: --concurrency workers send GET /feed/posts?page=1 for
//     --duration; requests per second and latency percentiles;
//  3. events: --clients Socket.IO clients connect to /socket.io/; then
//     --events posts are created one after another, and for each, the time
//     from the moment its 201 answer has been read to the arrival of its
//     "posts" create event at every client (p50, p99, max over all
//     clients and posts). The event is emitted after the commit, so it can
//     beat the answer: such samples are counted as negative.
//
// It prints a table, or JSON with --json.
//
//	go run ./bench/feedload --url http://127.0.0.1:8080 --posts 100000
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/socketio"
)

type config struct {
	url             string
	posts           int
	seedConcurrency int
	duration        time.Duration
	concurrency     int
	clients         int
	events          int
	transport       string
	sources         int
	jsonOut         bool
	mdRow           string
}

// Result is what one run measured; --json prints it.
type Result struct {
	URL          string  `json:"url"`
	TotalItems   int     `json:"totalItems"`
	Seeded       int     `json:"seeded"`
	SeedSeconds  float64 `json:"seedSeconds"`
	List         Summary `json:"list"`
	ListRPS      float64 `json:"listRequestsPerSecond"`
	ListErrors   int64   `json:"listErrors"`
	Clients      int     `json:"clients"`
	Events       int     `json:"events"`
	EventLatency Summary `json:"eventLatency"`
	EventsLost   int     `json:"eventsLost"`
}

// Summary holds latency percentiles in milliseconds.
type Summary struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50Ms"`
	P99   float64 `json:"p99Ms"`
	Max   float64 `json:"maxMs"`
	Min   float64 `json:"minMs"`
}

func summarize(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return Summary{Count: len(d), P50: ms(q(0.50)), P99: ms(q(0.99)), Max: ms(d[len(d)-1]), Min: ms(d[0])}
}

func main() {
	var c config
	flag.StringVar(&c.url, "url", "http://127.0.0.1:8080", "the feed service's base URL")
	flag.IntVar(&c.posts, "posts", 100000, "posts the feed must hold before measuring (created when missing)")
	flag.IntVar(&c.seedConcurrency, "seed-concurrency", 8, "posts created at once while seeding")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "how long the list phase runs")
	flag.IntVar(&c.concurrency, "concurrency", 16, "concurrent GET /feed/posts workers")
	flag.IntVar(&c.clients, "clients", 1000, "Socket.IO clients listening for events")
	flag.IntVar(&c.events, "events", 50, "posts created, one at a time, while the clients listen")
	flag.StringVar(&c.transport, "transport", "websocket", "the clients' transport: websocket or polling")
	flag.IntVar(&c.sources, "sources", 4, "for a loopback URL, spread the clients over this many source addresses 127.0.0.20+i (servers limit connections per address)")
	flag.BoolVar(&c.jsonOut, "json", false, "print the result as JSON")
	flag.StringVar(&c.mdRow, "md-row", "", "print the result as one Markdown table row whose first cell is this label")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	res, err := run(ctx, c, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "feedload:", err)
		os.Exit(1)
	}
	if c.mdRow != "" {
		fmt.Printf("| %s | %d | %.0f | %.2f | %.2f | %d | %d × %d | %.2f | %.2f | %.2f | %d |\n",
			c.mdRow, res.TotalItems, res.ListRPS, res.List.P50, res.List.P99, res.ListErrors,
			res.Clients, res.Events, res.EventLatency.P50, res.EventLatency.P99, res.EventLatency.Max, res.EventsLost)
		return
	}
	if c.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
		return
	}
	fmt.Printf("feed at %s: %d posts (%d created in %.1fs)\n", res.URL, res.TotalItems, res.Seeded, res.SeedSeconds)
	fmt.Printf("GET /feed/posts?page=1  %8.0f req/s   p50 %6.2f ms   p99 %6.2f ms   max %7.2f ms   errors %d\n",
		res.ListRPS, res.List.P50, res.List.P99, res.List.Max, res.ListErrors)
	fmt.Printf("POST answer → event     %d clients × %d posts   p50 %6.2f ms   p99 %6.2f ms   max %7.2f ms   min %6.2f ms   lost %d\n",
		res.Clients, res.Events, res.EventLatency.P50, res.EventLatency.P99, res.EventLatency.Max, res.EventLatency.Min, res.EventsLost)
}

// api is a signed-in user of the feed.
type api struct {
	base  string
	token string
	hc    *http.Client
	png   []byte
}

func run(ctx context.Context, c config, log *slog.Logger) (*Result, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: c.concurrency + c.seedConcurrency, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	a := &api{base: c.url, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}, png: tinyPNG()}
	if err := a.signIn(ctx); err != nil {
		return nil, err
	}
	res := &Result{URL: c.url, Clients: c.clients, Events: c.events}

	total, err := a.total(ctx)
	if err != nil {
		return nil, err
	}
	if missing := c.posts - total; missing > 0 {
		log.Info("seeding", "have", total, "creating", missing)
		start := time.Now()
		if err := a.seed(ctx, missing, c.seedConcurrency, log); err != nil {
			return nil, err
		}
		res.Seeded, res.SeedSeconds = missing, time.Since(start).Seconds()
	}
	if res.TotalItems, err = a.total(ctx); err != nil {
		return nil, err
	}

	log.Info("list phase", "concurrency", c.concurrency, "duration", c.duration)
	lat, errs, elapsed := a.list(ctx, c.concurrency, c.duration)
	res.List, res.ListErrors = summarize(lat), errs
	res.ListRPS = float64(len(lat)) / elapsed.Seconds()

	if c.clients > 0 && c.events > 0 {
		log.Info("events phase", "clients", c.clients, "events", c.events)
		ev, lost, err := a.eventLatency(ctx, c.clients, c.events, c.transport, c.sources)
		if err != nil {
			return nil, err
		}
		res.EventLatency, res.EventsLost = summarize(ev), lost
	}
	return res, nil
}

func (a *api) do(ctx context.Context, method, path, ctype string, body io.Reader, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

func (a *api) signIn(ctx context.Context) error {
	email := fmt.Sprintf("feedload-%d@example.com", rand.Int64())
	body, _ := json.Marshal(map[string]string{"email": email, "password": "feedload-password", "name": "Feed Load"})
	if err := a.do(ctx, http.MethodPut, "/auth/signup", "application/json", bytes.NewReader(body), http.StatusCreated, nil); err != nil {
		return fmt.Errorf("sign up: %w", err)
	}
	body, _ = json.Marshal(map[string]string{"email": email, "password": "feedload-password"})
	var out struct{ Token string }
	if err := a.do(ctx, http.MethodPost, "/auth/login", "application/json", bytes.NewReader(body), http.StatusOK, &out); err != nil {
		return fmt.Errorf("log in: %w", err)
	}
	a.token = out.Token
	return nil
}

func (a *api) total(ctx context.Context) (int, error) {
	var out struct{ TotalItems int }
	err := a.do(ctx, http.MethodGet, "/feed/posts?page=1", "", nil, http.StatusOK, &out)
	return out.TotalItems, err
}

// create makes a post and returns its id.
func (a *api) create(ctx context.Context, title string) (string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("title", title)
	_ = mw.WriteField("content", "Measured by bench/feedload, through the public API.")
	fw, _ := mw.CreateFormFile("image", "pixel.png")
	_, _ = fw.Write(a.png)
	_ = mw.Close()
	var out struct {
		Post struct {
			ID string `json:"_id"`
		}
	}
	if err := a.do(ctx, http.MethodPost, "/feed/post", mw.FormDataContentType(), &buf, http.StatusCreated, &out); err != nil {
		return "", err
	}
	return out.Post.ID, nil
}

func (a *api) seed(ctx context.Context, n, workers int, log *slog.Logger) error {
	var next, done atomic.Int64
	errc := make(chan error, workers)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if _, err := a.create(ctx, fmt.Sprintf("Seeded post %d", i)); err != nil {
					errc <- err
					return
				}
				done.Add(1)
			}
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	for {
		select {
		case <-finished:
			select {
			case err := <-errc:
				return fmt.Errorf("seed: %w", err)
			default:
				return nil
			}
		case <-tick.C:
			log.Info("seeding", "created", done.Load(), "of", n)
		}
	}
}

func (a *api) list(ctx context.Context, workers int, d time.Duration) ([]time.Duration, int64, time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var all []time.Duration
	var errs atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var mine []time.Duration
			for ctx.Err() == nil {
				t := time.Now()
				err := a.do(ctx, http.MethodGet, "/feed/posts?page=1", "", nil, http.StatusOK, nil)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return all, errs.Load(), time.Since(start)
}

// arrivals records when each client saw each post's create event.
type arrivals struct {
	mu   sync.Mutex
	seen map[string][]time.Time // post id → arrival times
	cond chan struct{}          // signalled on every arrival
}

func (a *api) eventLatency(ctx context.Context, clients, events int, transport string, sources int) ([]time.Duration, int, error) {
	loopback := false
	if u, err := url.Parse(a.base); err == nil {
		ip := net.ParseIP(u.Hostname())
		loopback = u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())
	}
	arr := &arrivals{seen: make(map[string][]time.Time), cond: make(chan struct{}, 1)}
	socks := make([]*client.Socket, 0, clients)
	defer func() {
		for _, s := range socks {
			s.Disconnect()
		}
	}()
	for i := range clients {
		opts := &client.DialOptions{Manager: client.ManagerOptions{DisableReconnection: true, Engine: client.EngineOptions{Transports: []string{transport}}}}
		if loopback && sources > 1 {
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(20+i%sources))}}
			opts.Manager.Engine.NetDial = d.DialContext
		}
		dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		s, err := client.Dial(dctx, a.base, opts)
		cancel()
		if err != nil {
			return nil, 0, fmt.Errorf("client %d: %w", i, err)
		}
		s.On("posts", func(args socketio.Args, _ socketio.Ack) {
			now := time.Now()
			var ev struct {
				Action string          `json:"action"`
				Post   json.RawMessage `json:"post"`
			}
			if args.Decode(0, &ev) != nil || ev.Action != "create" {
				return
			}
			var p struct {
				ID string `json:"_id"`
			}
			if json.Unmarshal(ev.Post, &p) != nil {
				return
			}
			arr.mu.Lock()
			arr.seen[p.ID] = append(arr.seen[p.ID], now)
			arr.mu.Unlock()
			select {
			case arr.cond <- struct{}{}:
			default:
			}
		})
		socks = append(socks, s)
	}
	var lat []time.Duration
	lost := 0
	for i := range events {
		id, err := a.create(ctx, fmt.Sprintf("Event latency post %d", i))
		answered := time.Now()
		if err != nil {
			return nil, 0, err
		}
		deadline := time.NewTimer(10 * time.Second)
	wait:
		for {
			arr.mu.Lock()
			n := len(arr.seen[id])
			arr.mu.Unlock()
			if n >= clients {
				break
			}
			select {
			case <-arr.cond:
			case <-deadline.C:
				break wait
			case <-ctx.Done():
				deadline.Stop()
				return nil, 0, ctx.Err()
			}
		}
		deadline.Stop()
		arr.mu.Lock()
		got := arr.seen[id]
		delete(arr.seen, id)
		arr.mu.Unlock()
		lost += clients - len(got)
		for _, t := range got {
			lat = append(lat, t.Sub(answered))
		}
	}
	if len(lat) == 0 {
		return nil, lost, errors.New("no event arrived")
	}
	return lat, lost, nil
}

// tinyPNG is a valid 2×2 PNG.
func tinyPNG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}
