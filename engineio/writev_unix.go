//go:build linux || darwin || freebsd || netbsd || openbsd

package engineio

import (
	"net"
	"syscall"
	"unsafe"
)

// maxIovecs bounds the vectors of one writev (IOV_MAX is 1024 on Linux).
const maxIovecs = 1024

// writeNow writes bufs with one non-blocking writev and returns what the
// socket did not take (nil when it took everything, or when raw is nil and
// nothing was attempted: then rest is bufs). It never waits: a full socket
// buffer returns the unwritten part with a nil error.
func writeNow(raw syscall.RawConn, bufs net.Buffers) (rest net.Buffers, err error) {
	if raw == nil {
		return bufs, nil
	}
	for len(bufs) > 0 {
		var iov [16]syscall.Iovec
		vs := iov[:0]
		if len(bufs) > len(iov) {
			vs = make([]syscall.Iovec, 0, min(len(bufs), maxIovecs))
		}
		for _, b := range bufs {
			if len(vs) == cap(vs) {
				break
			}
			if len(b) > 0 {
				v := syscall.Iovec{Base: &b[0]}
				v.SetLen(len(b))
				vs = append(vs, v)
			}
		}
		if len(vs) == 0 {
			return nil, nil
		}
		var n uintptr
		var errno syscall.Errno
		cerr := raw.Write(func(fd uintptr) bool {
			for {
				n, _, errno = syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&vs[0])), uintptr(len(vs)))
				if errno != syscall.EINTR {
					return true // never wait for writability
				}
			}
		})
		switch {
		case cerr != nil:
			return bufs, cerr
		case errno == syscall.EAGAIN:
			return bufs, nil
		case errno != 0:
			return bufs, errno
		}
		bufs = consume(bufs, int(n))
		if n == 0 {
			return bufs, nil
		}
		// A short write means the socket buffer is full: leave the rest.
		total := 0
		for _, v := range vs {
			total += int(v.Len)
		}
		if int(n) < total {
			return bufs, nil
		}
	}
	return nil, nil
}

// consume drops the first n bytes of bufs.
func consume(bufs net.Buffers, n int) net.Buffers {
	for len(bufs) > 0 {
		if n < len(bufs[0]) {
			bufs[0] = bufs[0][n:]
			return bufs
		}
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	return bufs
}
