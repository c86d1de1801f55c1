//go:build !(linux && (amd64 || arm64))

package engineio

// poller is not available on this system: every WebSocket connection has
// a reader goroutine.
type poller struct{}

func newPoller() (*poller, error)     { return nil, errNoPoller }
func (p *poller) stop()               {}
func (p *poller) watch(*wsConn) bool  { return false }
func (p *poller) forget(*wsConn) bool { return false }

func (c *wsConn) tryRead(b []byte) (int, error) { return c.read(b) }
