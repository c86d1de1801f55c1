package client

import (
	"time"

	"github.com/heraldio/herald/engineio"
)

// What the connection's one timer is waiting for (protocol-notes §3.4).
const (
	hbOff       uint8 = iota
	hbAwaitPing       // protocol 4: the server's next ping is due by hbAt
	hbPingDue         // protocol 3: send a ping at hbAt
	hbAwaitPong       // protocol 3: the pong is due by hbAt
	hbClosing         // Close: tear down at hbAt if the close packet is still not out
)

// startHeartbeat arms the timer after the handshake. A server that
// announced no pingInterval gets no heartbeat.
func (c *EngineConn) startHeartbeat() {
	c.timer = time.AfterFunc(time.Hour, c.onTimer)
	c.timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hs.PingInterval <= 0 {
		return
	}
	now := time.Now()
	if c.protocol == 3 {
		c.armLocked(hbPingDue, now.Add(c.hs.PingInterval))
	} else {
		c.armLocked(hbAwaitPing, now.Add(c.hs.PingInterval+c.hs.PingTimeout))
	}
}

// armLocked sets the timer's state and deadline. The runtime timer is only
// moved when the deadline comes earlier than it is set for; a timer that
// fires early re-arms itself, so a ping costs no timer operation.
func (c *EngineConn) armLocked(state uint8, at time.Time) {
	c.hbState, c.hbAt = state, at
	if c.timer != nil && (c.hbArmed.IsZero() || at.Before(c.hbArmed)) {
		c.hbArmed = at
		c.timer.Reset(time.Until(at))
	}
}

func (c *EngineConn) onTimer() {
	c.mu.Lock()
	if c.tornDown {
		c.mu.Unlock()
		return
	}
	now := time.Now()
	if now.Before(c.hbAt) {
		c.hbArmed = c.hbAt
		c.timer.Reset(c.hbAt.Sub(now))
		c.mu.Unlock()
		return
	}
	c.hbArmed = time.Time{}
	state := c.hbState
	if state == hbPingDue {
		c.armLocked(hbAwaitPong, now.Add(c.hs.PingTimeout))
	}
	c.mu.Unlock()
	switch state {
	case hbPingDue:
		_ = c.send(engineio.PacketPing, false, nil)
	case hbAwaitPing, hbAwaitPong:
		c.fail(engineio.ReasonPingTimeout, nil)
	case hbClosing:
		c.teardown()
	}
}

// onPing notes a protocol 4 ping: the next is due within pingInterval, plus
// pingTimeout for the way.
func (c *EngineConn) onPing() {
	c.mu.Lock()
	if c.hbState == hbAwaitPing {
		c.armLocked(hbAwaitPing, time.Now().Add(c.hs.PingInterval+c.hs.PingTimeout))
	}
	c.mu.Unlock()
}

// onPong notes a protocol 3 pong: the next ping goes out after pingInterval.
func (c *EngineConn) onPong() {
	c.mu.Lock()
	if c.hbState == hbAwaitPong {
		c.armLocked(hbPingDue, time.Now().Add(c.hs.PingInterval))
	}
	c.mu.Unlock()
}
