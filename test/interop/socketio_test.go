package interop_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

// The Socket.IO clients under test, by the name js/socketio.mjs knows them
// as, and the npm package each one is.
var sioClients = []struct {
	name string
	pkg  string
}{
	{"v4", "socket.io-client"}, // 4.8.x, protocol 5 over Engine.IO 4
	{"v3", "sio-client-v3"},    // socket.io-client 3.1.x, protocol 5
	{"v2", "sio-client-v2"},    // socket.io-client 2.5.x, protocol 4 over Engine.IO 3
}

// sioScenarios are the scenarios of js/socketio.mjs and the checks of
// their outcome. Each runs against a fresh server.
var sioScenarios = []struct {
	name  string
	check func(c *sioCase)
}{
	{"auth", checkSIOAuth},
	{"refused", checkSIORefused},
	{"json", checkSIOJSON},
	{"binary", checkSIOBinary},
	{"acks", checkSIOAcks},
	{"rooms", checkSIORooms},
	{"namespaces", checkSIONamespaces},
	{"client-disconnect", checkSIOClientDisconnect},
	{"server-disconnect", checkSIOServerDisconnect},
	{"invalid-namespace", checkSIOInvalidNamespace},
}

// TestSocketIO drives the official socket.io-client releases through every
// scenario over every transport mode: TestSocketIO/<client>/<mode>/<scenario>.
// TestSocketIO/mixed/<mode>/rooms puts v4, v3 and v2 clients in the same
// rooms, so that one broadcast reaches clients of both protocols.
func TestSocketIO(t *testing.T) {
	pkgs := make([]string, 0, len(sioClients))
	for _, cl := range sioClients {
		pkgs = append(pkgs, cl.pkg)
	}
	requireNode(t, pkgs...)
	for _, cl := range sioClients {
		t.Run(cl.name, func(t *testing.T) {
			t.Parallel()
			for _, mode := range eioModes {
				t.Run(mode.name, func(t *testing.T) {
					t.Parallel()
					for _, sc := range sioScenarios {
						t.Run(sc.name, func(t *testing.T) {
							t.Parallel()
							c := &sioCase{t: t, client: cl.name, mode: mode.name, first: mode.first, final: mode.final}
							c.run(sc.name)
							sc.check(c)
						})
					}
				})
			}
		})
	}
	t.Run("mixed", func(t *testing.T) {
		t.Parallel()
		for _, mode := range eioModes {
			t.Run(mode.name+"/rooms", func(t *testing.T) {
				t.Parallel()
				c := &sioCase{t: t, client: "mixed", mode: mode.name, first: mode.first, final: mode.final}
				c.run("rooms")
				checkSIORooms(c)
			})
		}
	})
}

// sioCase is one run of js/socketio.mjs against a fresh server.
type sioCase struct {
	t      *testing.T
	client string // v4, v3, v2 or mixed
	mode   string
	first  string // the transport of the handshake
	final  string // the transport the connections end on
	app    *sioApp
	obs    map[string]json.RawMessage
}

func (c *sioCase) run(scenario string) {
	t := c.t
	var url string
	c.app, url = startSocketIO(t)
	run := runNode(t, 40*time.Second, "socketio.mjs", url, scenario, c.client, c.mode)
	var res struct {
		Error string                     `json:"error"`
		Obs   map[string]json.RawMessage `json:"obs"`
	}
	if err := json.Unmarshal(run.Result, &res); err != nil {
		t.Fatalf("decoding result: %v", err)
	}
	if run.ExitCode != 0 || res.Error != "" {
		t.Fatalf("client failed (exit code %d): %s\nserver saw: %s", run.ExitCode, res.Error, c.app.dump())
	}
	c.obs = res.Obs
}

// v2 tells whether the client speaks protocol 4 (socket.io-client 2).
func (c *sioCase) v2() bool { return c.client == "v2" }

// wantObs checks that the client observed want (a Go value or a jsonLit)
// under key, comparing JSON values.
func (c *sioCase) wantObs(key string, want any) {
	c.t.Helper()
	got, ok := c.obs[key]
	if !ok {
		c.t.Errorf("client observed nothing as %q, want %s", key, jsonText(want))
		return
	}
	if !jsonEqual(got, want) {
		c.t.Errorf("client observed %q =\n\t%s\nwant\n\t%s", key, got, jsonText(want))
	}
}

// wantServer waits for the server to record key and checks every value
// recorded under it against want (DeepEqual); n is how many there must be.
func (c *sioCase) wantServer(key string, n int, want any) {
	c.t.Helper()
	got := c.app.waitN(c.t, key, n)
	if len(got) != n {
		c.t.Errorf("server recorded %q %d times, want %d: %#v", key, len(got), n, got)
	}
	for i, g := range got {
		if !reflect.DeepEqual(g, want) {
			c.t.Errorf("server recorded %q #%d =\n\t%#v\nwant\n\t%#v", key, i, g, want)
		}
	}
}

// wantNoServer checks that the server recorded nothing under key.
func (c *sioCase) wantNoServer(key string) {
	c.t.Helper()
	if got := c.app.values(key); len(got) != 0 {
		c.t.Errorf("server recorded %q: %#v, want nothing", key, got)
	}
}

// connected returns the id of the socket the server connected for user in
// nsp, checking that there was exactly one and that it connected over the
// mode's transport. In upgrade mode that may be either transport: the
// upgrade can complete while a CONNECT is on its way or being handled.
func (c *sioCase) connected(user, nsp string) string {
	c.t.Helper()
	got := c.app.waitN(c.t, user+" "+nsp+" connect", 1)
	if len(got) != 1 {
		c.t.Fatalf("server connected %d sockets for %s in %s, want 1", len(got), user, nsp)
	}
	conn := got[0].(sioConn)
	if conn.Transport != c.first && conn.Transport != c.final {
		c.t.Errorf("%s's socket in %s connected over %q, want %q or %q", user, nsp, conn.Transport, c.first, c.final)
	}
	return conn.ID
}

// wantAuth checks what the namespace middleware saw of user's credentials.
func (c *sioCase) wantAuth(user, nsp, token string, n int) {
	c.t.Helper()
	want := sioAuth{Via: "auth", Token: token, User: user,
		Auth: fmt.Sprintf(`{"token":%q,"user":%q,"extra":{"emoji":"😀","list":[1,"二"]}}`, token, user)}
	if c.v2() {
		// socket.io-client 2 sends its query option on the handshake
		// request, and on the CONNECT of every namespace but "/".
		want = sioAuth{Via: "query", Token: token, User: user, Auth: "{}", Lang: "zoë 😀"}
	}
	c.wantServer(user+" "+nsp+" auth", n, want)
}

// checkSIOAuth: credentials reach the middleware intact; both sides agree
// on the socket id; the events sent right before the client closes the
// whole connection are handled, and the close reaches the server as
// "transport close".
func checkSIOAuth(c *sioCase) {
	c.wantAuth("alice", "/", sioToken, 1)
	id := c.connected("alice", "/")
	c.wantObs("id", id)
	c.wantObs("whoami", []any{sioWho{ID: id, Nsp: "/", User: "alice", Sessions: 1, Transport: c.final}})
	c.wantObs("transport", c.final)
	c.wantObs("disconnects", []string{"forced close"})
	c.wantBurst("alice", "/")
	c.wantServer("alice / disconnect", 1, socketio.ReasonTransportClose)
}

// sioBurst is how many "count" events js/socketio.mjs sends right before it
// leaves (BURST there).
const sioBurst = 50

// wantBurst checks that the server handled every event of the burst, in
// order, although the client left right after sending them.
func (c *sioCase) wantBurst(user, nsp string) {
	c.t.Helper()
	c.app.waitN(c.t, user+" "+nsp+" disconnect", 1)
	got := c.app.values(user + " " + nsp + " count")
	want := make([]any, sioBurst)
	for i := range want {
		want[i] = i
	}
	if !reflect.DeepEqual(got, want) {
		c.t.Errorf("server handled %d of the %d events sent before the client left: %v", len(got), sioBurst, got)
	}
}

// checkSIORefused: middleware refusal with data reaches the client as
// connect_error (v3/v4, which then retry with the right token) or as the
// "error" event with the data alone (v2, as Node 4.8 sends it).
func checkSIORefused(c *sioCase) {
	if c.v2() {
		c.wantAuth("mallory", "/", "wrong", 1)
		c.wantObs("errors", jsonLit(`[{"code":42}]`))
		c.wantObs("connected", false)
		c.wantNoServer("mallory / connect")
		return
	}
	got := c.app.waitN(c.t, "mallory / auth", 2)
	if len(got) != 2 || got[0].(sioAuth).Token != "wrong" || got[1].(sioAuth).Token != sioToken {
		c.t.Errorf("middleware saw %#v, want the wrong token, then the right one", got)
	}
	c.wantObs("connect_error", jsonLit(`{"message":"not authorized","data":{"code":42}}`))
	c.wantObs("connected", false)
	id := c.connected("mallory", "/")
	c.wantObs("whoami", []any{sioWho{ID: id, Nsp: "/", User: "mallory", Sessions: 1, Transport: c.final}})
	c.wantServer("mallory / disconnect", 1, socketio.ReasonTransportClose)
}

// checkSIOJSON: nested JSON with non-ASCII text survives both ways, twice
// (before and after the upgrade in upgrade mode).
func checkSIOJSON(c *sioCase) {
	c.connected("jo", "/")
	c.wantServer("jo / json", 2, wantJSONDoc())
	c.wantServer("jo / json rest", 2, []string{`"two"`, `3`, `null`, `[1,"x"]`})
	reply := []any{sioJSONReply, wantJSONDoc(), "second", 42, nil, false}
	c.wantObs("json-reply", []any{reply, reply})
	c.wantServer("jo / disconnect", 1, socketio.ReasonTransportClose)
}

// checkSIOBinary: binary nested anywhere survives both ways, and arguments
// received with attachments can be emitted again as they are.
func checkSIOBinary(c *sioCase) {
	c.connected("bea", "/")
	c.wantServer("bea / binary", 2, wantBinDoc())
	c.wantServer("bea / binary top", 2, []byte{0xca, 0xfe})
	c.wantServer("bea / binary rest", 2, `"after"`)
	reply := `[
		{"label":"from go ✓","blob":{"$bin":"deadbeef"},"empty":{"$bin":""},"list":[{"$bin":"01"},{"$bin":"0203"}],
		 "inner":{"raw":{"$bin":"ff00"},"n":1,"deeper":["x",{"$bin":"07"}]}},
		{"$bin":"42"},
		{"m":{"$bin":"09"}}
	]`
	c.wantObs("binary-reply", jsonLit("["+reply+","+reply+"]"))
	sent := c.obs["sent"]
	c.wantObs("binary-echo", jsonLit("["+string(sent)+","+string(sent)+"]"))
	c.wantServer("bea / disconnect", 1, socketio.ReasonTransportClose)
}

// checkSIOAcks: acknowledgements both ways, binary ones too, and the
// timeouts of either side.
func checkSIOAcks(c *sioCase) {
	c.connected("ack", "/")
	c.wantObs("sum", jsonLit(`[6.5,"ok"]`))
	c.wantObs("binary-ack", jsonLit(`[{"len":3,"echo":{"$bin":"050607"},"meta":{"k":"v"}},{"$bin":"070605"}]`))
	c.wantObs("ask", jsonLit(`["done"]`))
	c.wantObs("questions", jsonLit(`{
		"question":[["q1",{"n":1,"text":"ça va?"}]],
		"question-bin":[[{"$bin":"010203"}]],
		"ignore-me":[["x",{"$function":true}]]
	}`))
	c.wantServer("ack / q1", 1, sioAckResult{Args: `["a1",{"echo":["q1",{"n":1,"text":"ça va?"}]}]`})
	c.wantServer("ack / q2", 1, sioAckResult{Args: `["bin",{"_placeholder":true,"num":0}]`, Bin: []byte{3, 2, 1}})
	c.wantServer("ack / timeout", 1, sioAckResult{Err: "ErrAckTimeout", Waited: true})
	c.wantObs("sum-final", jsonLit(`[1,"ok"]`))
	if c.client == "v4" {
		timedOut := `{"message":"operation has timed out","data":{"$undefined":true}}`
		c.wantObs("timeout-cb", jsonLit(`{"err":`+timedOut+`,"rest":[]}`))
		c.wantObs("timeout-ok-cb", jsonLit(`{"err":null,"rest":[42,"ok"]}`))
		c.wantObs("emitWithAck", 4)
		c.wantObs("timeout-promise", jsonLit(`{"rejected":`+timedOut+`}`))
		got := c.app.waitN(c.t, "ack / never-ack", 2)
		want := []any{`["x"]`, `["y"]`}
		if !reflect.DeepEqual(got, want) {
			c.t.Errorf("server got never-ack %#v, want %#v (each with an ack id)", got, want)
		}
	}
	c.wantServer("ack / disconnect", 1, socketio.ReasonTransportClose)
}

// checkSIORooms: each broadcast reaches exactly the sockets it selects,
// once each, with its binary attachment.
func checkSIORooms(c *sioCase) {
	for _, u := range []string{"a", "b", "c", "d"} {
		c.connected(u, "/")
	}
	c.wantObs("joined", jsonLit(`{"a":[["red"]],"b":[["blue","red"]],"c":[["blue"]],"d":[[]]}`))
	want := map[string][]string{
		"a": {"t1", "t4", "t5", "t6", "t7"},
		"b": {"t1", "t2", "t4", "t5"},
		"c": {"t3", "t4", "t7", "t8"},
		"d": {"t3", "t7", "t8"},
	}
	news := map[string][]any{}
	for u, tags := range want {
		news[u] = []any{}
		for _, tag := range tags {
			news[u] = append(news[u], []any{tag, map[string]any{"tag": tag, "bin": map[string]string{"$bin": hex.EncodeToString([]byte(tag))}}})
		}
	}
	c.wantObs("news", news)
	for _, tag := range []string{"t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"} {
		c.wantObs("cmd "+tag, []string{tag})
	}
	c.wantObs("transports", map[string]string{"a": c.final, "b": c.final, "c": c.final, "d": c.final})
	for _, u := range []string{"a", "b", "c", "d"} {
		c.wantServer(u+" / disconnect", 1, socketio.ReasonTransportClose)
	}
}

// checkSIONamespaces: "/" and "/admin" share one connection; events and
// broadcasts stay in their namespace; leaving one namespace keeps the other.
func checkSIONamespaces(c *sioCase) {
	c.wantAuth("nina", "/", sioToken, 1)
	c.wantAuth("nina", "/admin", sioToken, 1)
	root, admin := c.connected("nina", "/"), c.connected("nina", "/admin")
	c.wantObs("shared", true)
	var ids struct{ Root, Admin, Engine string }
	if err := json.Unmarshal(c.obs["ids"], &ids); err != nil {
		c.t.Fatalf("client ids %s: %v", c.obs["ids"], err)
	}
	if ids.Root != root || ids.Admin != admin {
		c.t.Errorf("client socket ids / %q, /admin %q; server's %q, %q", ids.Root, ids.Admin, root, admin)
	}
	if c.v2() && (root != ids.Engine || admin != "/admin#"+ids.Engine) {
		c.t.Errorf("v2 socket ids %q and %q, want the Engine.IO id %q (with /admin# for /admin)", root, admin, ids.Engine)
	}
	c.wantObs("whoami", map[string]any{
		"root":  []any{sioWho{ID: root, Nsp: "/", User: "nina", Sessions: 1}},
		"admin": []any{sioWho{ID: admin, Nsp: "/admin", User: "nina", Sessions: 1}},
	})
	c.wantObs("sum", jsonLit(`{"root":[2,"ok"],"admin":[4,"ok"]}`))
	news := func(tag string) []any {
		return []any{[]any{tag, map[string]any{"tag": tag, "bin": map[string]string{"$bin": hex.EncodeToString([]byte(tag))}}}}
	}
	c.wantObs("news", map[string]any{"root": news("r1"), "admin": news("a1")})
	c.wantObs("markers", jsonLit(`{"root":[["r1"]],"admin":[["a1"]]}`))
	c.wantObs("admin-disconnects", []string{"io client disconnect"})
	c.wantObs("after", []any{sioWho{ID: root, Nsp: "/", User: "nina", Sessions: 1}})
	c.wantObs("root-disconnects", []string{"io client disconnect"})
	c.wantServer("nina /admin disconnect", 1, socketio.ReasonClientNamespaceDisconnect)
	c.wantServer("nina / disconnect", 1, socketio.ReasonClientNamespaceDisconnect)
}

// checkSIOClientDisconnect: socket.disconnect() on the only namespace is
// "client namespace disconnect" on the server, even though the client then
// closes the connection, and the events sent before it are all handled.
func checkSIOClientDisconnect(c *sioCase) {
	id := c.connected("carl", "/")
	c.wantObs("whoami", []any{sioWho{ID: id, Nsp: "/", User: "carl", Sessions: 1, Transport: c.final}})
	c.wantObs("disconnects", []string{"io client disconnect"})
	c.wantBurst("carl", "/")
	c.wantServer("carl / disconnect", 1, socketio.ReasonClientNamespaceDisconnect)
}

// checkSIOServerDisconnect: Disconnect(false) and Disconnect(true) are both
// "io server disconnect" on the client, once: Disconnect(true) tells every
// namespace before it closes the connection, as Node's client._disconnect,
// and over polling the close packet comes in a response of its own, after
// the DISCONNECT has been handled.
func checkSIOServerDisconnect(c *sioCase) {
	c.connected("k1", "/")
	c.connected("k2", "/")
	c.wantObs("k1", []string{"io server disconnect"})
	c.wantObs("k2", []string{"io server disconnect"})
	c.wantServer("k1 / disconnect", 1, socketio.ReasonServerNamespaceDisconnect)
	c.wantServer("k2 / disconnect", 1, socketio.ReasonForcedServerClose)
}

// checkSIOInvalidNamespace: a CONNECT to an unknown namespace is refused
// with "Invalid namespace".
func checkSIOInvalidNamespace(c *sioCase) {
	if c.v2() {
		c.wantObs("errors", jsonLit(`[{"message":"Invalid namespace"}]`))
		// v2 clients are connected to "/" implicitly, whatever they asked for.
		c.connected("ivan", "/")
		c.wantServer("ivan / disconnect", 1, socketio.ReasonTransportClose)
	} else {
		c.wantObs("connect_error", jsonLit(`{"message":"Invalid namespace","data":{"$undefined":true}}`))
		c.wantNoServer("ivan / connect")
	}
	c.wantObs("connected", false)
	c.wantNoServer("ivan /nope connect")
	c.wantNoServer("ivan /nope auth")
}

const sioToken = "s3cr3t"

// sioAuth is what the namespace middleware saw of a client's credentials.
type sioAuth struct {
	Via   string // "auth": the CONNECT payload; "query": the query string (v2)
	Token string
	User  string
	Auth  string // the CONNECT payload, compacted
	Lang  string // v2: the "lang" query parameter
}

// sioConn is a socket the server connected.
type sioConn struct {
	ID        string
	Transport string // at connection time
}

// sioWho is the server's answer to "whoami".
type sioWho struct {
	ID        string `json:"id"`
	Nsp       string `json:"nsp"`
	User      string `json:"user"`
	Sessions  int    `json:"sessions"`            // Engine.IO sessions open on the server
	Transport string `json:"transport,omitempty"` // when asked for with {"transport":true}
}

// sioAckResult is what the server got back from one EmitWithAck.
type sioAckResult struct {
	Args   string // the acknowledgement's arguments, as JSON
	Bin    []byte // the binary attachment, if any
	Err    string // "ErrAckTimeout", or the error's text
	Waited bool   // the timeout did not end early
}

// jsonDoc is the JSON value js/socketio.mjs sends (jsonDoc there),
// decoded into Go types.
type jsonDoc struct {
	Text   string            `json:"text"`
	Nul    string            `json:"nul"`
	N      jsonNumbers       `json:"n"`
	Flags  []*bool           `json:"flags"`
	Nested jsonNested        `json:"nested"`
	Emoji  map[string]string `json:"emoji"`
}

type jsonNumbers struct {
	Int   int     `json:"int"`
	Neg   int     `json:"neg"`
	Float float64 `json:"float"`
	Big   int64   `json:"big"`
	Exp   float64 `json:"exp"`
}

type jsonNested struct {
	List  []any          `json:"list"`
	Empty map[string]any `json:"empty"`
	None  []any          `json:"none"`
}

func wantJSONDoc() jsonDoc {
	yes, no := true, false
	return jsonDoc{
		Text:   "zoë 😀 日本語 € \u2028 </script> \"quoted\" back\\slash\nnew\ttab",
		Nul:    "a\x00b",
		N:      jsonNumbers{Int: 42, Neg: -7, Float: 1.5, Big: 9007199254740991, Exp: 1e-7},
		Flags:  []*bool{&yes, &no, nil},
		Nested: jsonNested{List: []any{[]any{1.0, []any{2.0, []any{3.0, map[string]any{"deep": "ünïcödé"}}}}}, Empty: map[string]any{}, None: []any{}},
		Emoji:  map[string]string{"key 😀": "value 𝄞"},
	}
}

// sioJSONReply is the server's own JSON value in "json-reply".
var sioJSONReply = map[string]any{
	"greeting": "Grüße 😀 日本 𝄞",
	"html":     "<b>&amp;</b>",
	"ctl":      "tab\tnl\nnul\x00quote\"",
	"list":     []any{1, 2.5, nil, true, "€"},
	"nested":   map[string]any{"a": map[string]any{"b": []any{map[string]any{"c": "ü"}}}},
	"empty":    map[string]any{},
	"none":     []any{},
}

// binDoc is the binary payload js/socketio.mjs sends (binPayload there).
type binDoc struct {
	Name  string   `json:"name"`
	Data  []byte   `json:"data"`
	Parts [][]byte `json:"parts"`
	Meta  binMeta  `json:"meta"`
}

type binMeta struct {
	Thumb  []byte    `json:"thumb"`
	Nested []binDeep `json:"nested"`
}

type binDeep struct {
	Deep []byte `json:"deep"`
}

func wantBinDoc() binDoc {
	return binDoc{
		Name:  "photo 😀.png",
		Data:  []byte{0, 1, 2, 0x1e, 0x3a, 253, 254, 255},
		Parts: [][]byte{{9, 8, 7, 6}, {}, []byte("€ text")},
		Meta:  binMeta{Thumb: []byte{0x34, 0x35, 0x2d}, Nested: []binDeep{{Deep: []byte("deep")}, {Deep: nil}}},
	}
}

// binReply is the server's own binary value in "binary-reply".
type binReply struct {
	Label string         `json:"label"`
	Blob  []byte         `json:"blob"`
	Empty []byte         `json:"empty"`
	List  [][]byte       `json:"list"`
	Inner map[string]any `json:"inner"`
}

// sioApp is the application under test: namespaces "/" and "/admin" with
// a middleware that checks the token, and the events js/socketio.mjs uses.
// It records what the server saw under keys "<user> <namespace> <what>".
type sioApp struct {
	srv *socketio.Server

	mu      sync.Mutex
	recs    map[string][]any
	changed chan struct{} // closed and replaced on every record
}

// startSocketIO serves a socketio.Server running sioApp at /socket.io/ on a
// loopback port and returns the app and the base URL. Cleanup closes the
// server.
func startSocketIO(t testing.TB) (*sioApp, string) {
	t.Helper()
	discard := slog.New(slog.DiscardHandler)
	app := &sioApp{recs: make(map[string][]any), changed: make(chan struct{})}
	app.srv = socketio.NewServer(&socketio.Options{Logger: discard, Engine: &engineio.Options{Logger: discard}})
	for _, name := range []string{"/", "/admin"} {
		nsp := app.srv.Of(name)
		nsp.Use(app.authorize)
		nsp.OnConnection(app.onConnection)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", app.srv)
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := app.srv.Close(ctx); err != nil {
			t.Errorf("closing the socket.io server: %v", err)
		}
		ts.Close()
	})
	return app, ts.URL
}

func (a *sioApp) rec(key string, v any) {
	a.mu.Lock()
	a.recs[key] = append(a.recs[key], v)
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()
}

func (a *sioApp) values(key string) []any {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.recs[key])
}

// waitN waits up to 10s for n values under key and returns what is there
// by then.
func (a *sioApp) waitN(t testing.TB, key string, n int) []any {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		a.mu.Lock()
		got, changed := slices.Clone(a.recs[key]), a.changed
		a.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Errorf("server recorded %q %d times within 10s, want %d", key, len(got), n)
			return got
		}
	}
}

// dump describes everything recorded, for failure messages.
func (a *sioApp) dump() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	keys := make([]string, 0, len(a.recs))
	for k := range a.recs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := ""
	for _, k := range keys {
		s += fmt.Sprintf("\n\t%s: %#v", k, a.recs[k])
	}
	return s
}

// authorize is the middleware of both namespaces: v3/v4 clients send
// {"token","user"} as the CONNECT payload, v2 clients as query parameters.
func (a *sioApp) authorize(_ context.Context, s *socketio.Socket) error {
	hs := s.Handshake()
	var cred struct{ Token, User string }
	if err := json.Unmarshal(hs.Auth, &cred); err != nil {
		return fmt.Errorf("bad auth payload: %w", err)
	}
	got := sioAuth{Via: "auth", Token: cred.Token, User: cred.User, Auth: compactJSON(hs.Auth)}
	if cred.Token == "" && hs.Query.Has("token") {
		got = sioAuth{Via: "query", Token: hs.Query.Get("token"), User: hs.Query.Get("user"), Auth: got.Auth, Lang: hs.Query.Get("lang")}
	}
	a.rec(got.User+" "+s.Namespace().Name()+" auth", got)
	if got.Token != sioToken {
		return &socketio.ConnectError{Message: "not authorized", Data: map[string]any{"code": 42}}
	}
	s.SetData(got.User)
	return nil
}

func (a *sioApp) onConnection(s *socketio.Socket) {
	user, _ := s.Data().(string)
	key := func(what string) string { return user + " " + s.Namespace().Name() + " " + what }
	a.rec(key("connect"), sioConn{ID: string(s.ID()), Transport: s.Transport()})
	s.OnDisconnect(func(_ *socketio.Socket, reason string) { a.rec(key("disconnect"), reason) })
	// reply acknowledges, and records a client that asked for no ack.
	reply := func(event string, ack socketio.Ack, args ...any) {
		if ack == nil {
			a.rec(key("no ack for "+event), true)
			return
		}
		if err := ack(args...); err != nil {
			a.rec(key("ack error for "+event), err.Error())
		}
	}
	fail := func(event string, err error) { a.rec(key("error in "+event), err.Error()) }

	s.On("whoami", func(s *socketio.Socket, args socketio.Args, ack socketio.Ack) {
		who := sioWho{ID: string(s.ID()), Nsp: s.Namespace().Name(), User: user, Sessions: a.srv.Engine().Count()}
		var opts struct{ Transport bool }
		if args.Len() > 0 {
			_ = args.Decode(0, &opts)
		}
		if opts.Transport {
			who.Transport = s.Transport()
		}
		reply("whoami", ack, who)
	})
	s.On("json", func(s *socketio.Socket, args socketio.Args, _ socketio.Ack) {
		var doc jsonDoc
		if err := args.Decode(0, &doc); err != nil {
			fail("json", err)
			return
		}
		a.rec(key("json"), doc)
		rest := []string{}
		for i := 1; i < args.Len(); i++ {
			rest = append(rest, string(args.Raw(i)))
		}
		a.rec(key("json rest"), rest)
		if err := s.Emit("json-reply", sioJSONReply, doc, "second", 42, nil, false); err != nil {
			fail("json", err)
		}
	})
	s.On("binary", func(s *socketio.Socket, args socketio.Args, _ socketio.Ack) {
		var doc binDoc
		if err := args.Decode(0, &doc); err != nil {
			fail("binary", err)
			return
		}
		a.rec(key("binary"), doc)
		top, _ := args.Bytes(1)
		a.rec(key("binary top"), top)
		a.rec(key("binary rest"), string(args.Raw(2)))
		r := binReply{
			Label: "from go ✓",
			Blob:  []byte{0xde, 0xad, 0xbe, 0xef},
			Empty: []byte{},
			List:  [][]byte{{1}, {2, 3}},
			Inner: map[string]any{"raw": []byte{0xff, 0}, "n": 1, "deeper": []any{"x", []byte{7}}},
		}
		if err := s.Emit("binary-reply", r, []byte{0x42}, map[string][]byte{"m": {9}}); err != nil {
			fail("binary", err)
		}
		if err := s.Emit("binary-echo", args); err != nil {
			fail("binary", err)
		}
	})
	s.On("count", func(_ *socketio.Socket, args socketio.Args, _ socketio.Ack) {
		var i int
		if err := args.Decode(0, &i); err != nil {
			fail("count", err)
			return
		}
		a.rec(key("count"), i)
	})
	s.On("sum", func(_ *socketio.Socket, args socketio.Args, ack socketio.Ack) {
		var nums []float64
		if err := args.Decode(0, &nums); err != nil {
			fail("sum", err)
			return
		}
		var sum float64
		for _, n := range nums {
			sum += n
		}
		reply("sum", ack, sum, "ok")
	})
	s.On("binary-ack", func(_ *socketio.Socket, args socketio.Args, ack socketio.Ack) {
		b, ok := args.Bytes(0)
		var meta map[string]string
		if err := args.Decode(1, &meta); !ok || err != nil {
			fail("binary-ack", fmt.Errorf("binary %v, meta %w", ok, err))
			return
		}
		rev := slices.Clone(b)
		slices.Reverse(rev)
		reply("binary-ack", ack, map[string]any{"len": len(b), "echo": b, "meta": meta}, rev)
	})
	s.On("ask", func(s *socketio.Socket, _ socketio.Args, ack socketio.Ack) {
		a.ask(s, key)
		reply("ask", ack, "done")
	})
	s.On("never-ack", func(_ *socketio.Socket, args socketio.Args, ack socketio.Ack) {
		if ack == nil {
			fail("never-ack", errors.New("no ack id"))
		}
		a.rec(key("never-ack"), args.String())
	})
	s.On("join", func(s *socketio.Socket, args socketio.Args, ack socketio.Ack) {
		var rooms []socketio.Room
		if err := args.Decode(0, &rooms); err != nil {
			fail("join", err)
			return
		}
		s.Join(rooms...)
		joined := []socketio.Room{}
		for _, r := range s.Rooms() {
			if r != socketio.Room(s.ID()) {
				joined = append(joined, r)
			}
		}
		slices.Sort(joined)
		reply("join", ack, joined)
	})
	s.On("cmd", func(s *socketio.Socket, args socketio.Args, ack socketio.Ack) {
		var cmd struct {
			Op     string
			Rooms  []socketio.Room
			Except []socketio.Room
			Tag    string
		}
		if err := args.Decode(0, &cmd); err != nil {
			fail("cmd", err)
			return
		}
		news := map[string]any{"tag": cmd.Tag, "bin": []byte(cmd.Tag)}
		var err error
		switch cmd.Op {
		case "io.to":
			err = a.srv.To(cmd.Rooms...).Emit("news", cmd.Tag, news)
		case "io.except":
			err = a.srv.Except(cmd.Rooms...).Emit("news", cmd.Tag, news)
		case "io.to.except":
			err = a.srv.To(cmd.Rooms...).Except(cmd.Except...).Emit("news", cmd.Tag, news)
		case "s.to":
			err = s.To(cmd.Rooms...).Emit("news", cmd.Tag, news)
		case "s.except":
			err = s.Except(cmd.Rooms...).Emit("news", cmd.Tag, news)
		case "s.broadcast":
			err = s.Broadcast().Emit("news", cmd.Tag, news)
		case "nsp.emit":
			err = s.Namespace().Emit("news", cmd.Tag, news)
		default:
			err = fmt.Errorf("unknown op %q", cmd.Op)
		}
		if err != nil {
			fail("cmd", err)
			return
		}
		// Delivery to each socket is in order, so the marker tells every
		// client that the broadcast has reached it or never will.
		if err := s.Namespace().Emit("marker", cmd.Tag); err != nil {
			fail("cmd", err)
		}
		reply("cmd", ack, cmd.Tag)
	})
	s.On("kick", func(s *socketio.Socket, args socketio.Args, _ socketio.Ack) {
		var opts struct{ Close bool }
		if err := args.Decode(0, &opts); err != nil {
			fail("kick", err)
			return
		}
		s.Disconnect(opts.Close)
	})
}

// ask asks the client questions and records the answers: EmitWithAck with
// a context deadline, Timeout(d).EmitWithAck with a binary argument and a
// binary answer, and one the client leaves unanswered.
func (a *sioApp) ask(s *socketio.Socket, key func(string) string) {
	result := func(args socketio.Args, err error) sioAckResult {
		r := sioAckResult{Args: args.String()}
		if err != nil {
			r.Err = err.Error()
		}
		if b, ok := args.Bytes(1); ok {
			r.Bin = b
		}
		return r
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.rec(key("q1"), result(s.EmitWithAck(ctx, "question", "q1", map[string]any{"n": 1, "text": "ça va?"})))
	a.rec(key("q2"), result(s.Timeout(5*time.Second).EmitWithAck(context.Background(), "question-bin", []byte{1, 2, 3})))

	const wait = 300 * time.Millisecond
	start := time.Now()
	args, err := s.Timeout(wait).EmitWithAck(context.Background(), "ignore-me", "x")
	r := result(args, err)
	if errors.Is(err, socketio.ErrAckTimeout) && errors.Is(err, context.DeadlineExceeded) {
		r.Err = "ErrAckTimeout"
	}
	r.Args = ""
	r.Waited = time.Since(start) >= wait
	a.rec(key("timeout"), r)
}

// compactJSON removes insignificant space from b, keeping the client's
// key order.
func compactJSON(b []byte) string {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return "invalid JSON: " + string(b)
	}
	return out.String()
}

// jsonLit is JSON text to compare with, as opposed to a Go value to
// marshal.
type jsonLit string

// jsonText renders want as JSON.
func jsonText(want any) string {
	if s, ok := want.(jsonLit); ok {
		return string(s)
	}
	b, err := json.Marshal(want)
	if err != nil {
		return fmt.Sprintf("%#v (%v)", want, err)
	}
	return string(b)
}

// jsonEqual compares got with want as JSON values. want is a jsonLit or a
// Go value marshalled to JSON.
func jsonEqual(got json.RawMessage, want any) bool {
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		return false
	}
	if err := json.Unmarshal([]byte(jsonText(want)), &w); err != nil {
		return false
	}
	return reflect.DeepEqual(g, w)
}
