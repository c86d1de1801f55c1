// Package redisinterop runs mixed clusters of Node socket.io 4.8 servers on
// the official @socket.io/redis-adapter and Herald servers on
// adapter/redis, on the real Redis of the machine, with official
// socket.io-client 4.8 clients on every server, and checks that every
// server-wide operation works in both directions. It holds only tests; run
// `npm ci` here first. The tests skip when node is absent, unless CI is set.
package redisinterop
