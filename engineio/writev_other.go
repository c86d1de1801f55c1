//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package engineio

import (
	"net"
	"syscall"
)

// writeNow cannot write without blocking here: it leaves everything to the
// flush goroutine.
func writeNow(_ syscall.RawConn, bufs net.Buffers) (net.Buffers, error) { return bufs, nil }
