// Package abuse holds Herald's abuse and leak tests: hostile and broken
// clients (oversized bodies and frames, slowloris, silent connections,
// connection floods, clients that never read, pathological packets, room
// and namespace hoarding, packet floods) against a Socket.IO server on
// loopback, each with a well-behaved control client whose round-trip
// latency is measured alongside, and connect/disconnect cycles over every
// transport that must leave goroutines and heap where they started.
//
// The figures the tests log ("figure:" lines) are recorded in
// RELIABILITY.md at the repository root, with the commands that produce
// them:
//
//	go test -race -count=1 -v ./test/abuse
//	HERALD_ABUSE_FULL=1 go test -count=1 -v -run TestCycles -timeout 60m ./test/abuse
package abuse
