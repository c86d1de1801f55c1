// Package interop holds black-box tests that drive the official npm clients
// against herald's servers: engine.io-client 6.6 (Engine.IO protocol 4) and
// 3.5 (protocol 3) against engineio.Server, over polling, WebSocket and the
// polling to WebSocket upgrade.
//
// The clients are Node scripts in js/, pinned by package-lock.json. Install
// them once before running the tests; the tests fail, never skip, without
// them:
//
//	cd test/interop && npm ci
//	go test ./test/interop
//
// Each script prints one JSON object per line and ends with a "result" line;
// the Go tests judge those observations together with what the server saw.
package interop
