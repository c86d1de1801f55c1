// Package pginterop holds black-box tests of a mixed Socket.IO cluster on
// PostgreSQL: one Node socket.io 4.8 server with the official
// @socket.io/postgres-adapter 0.5.0 and two Herald servers with package
// adapter/postgres, official socket.io-client 4.8 clients on each.
//
// Run `npm ci` here (or `make npm`) first; the tests skip when node is
// absent and CI is unset, and fail under CI=true.
package pginterop
