//go:build !linux

package loadgen

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync/atomic"
)

// epollSupported reports whether this system has the epoll receive path:
// elsewhere than on Linux, every client has its reader goroutine.
const epollSupported = false

var errNoEpoll = errors.New("loadgen: no epoll receive path on " + runtime.GOOS)

// pollGroup stands in for the epoll receive path, which this system lacks.
type pollGroup struct{}

func epollPollers() int { return 0 }

func newPollGroup(int) (*pollGroup, error) { return nil, errNoEpoll }

func (*pollGroup) dial(context.Context, string, func(context.Context, string, string) (net.Conn, error),
	func([]byte, bool), func()) (link, error) {
	return nil, errNoEpoll
}

func (*pollGroup) close() {}

// epollFDs counts the descriptors of the epoll path: none here.
var epollFDs atomic.Int64
