package client

import (
	"context"
	"fmt"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldio/herald/engineio"
)

// upgradeTimeout bounds the WebSocket handshake and probe of an upgrade,
// as the Node server's default upgradeTimeout does.
const upgradeTimeout = 10 * time.Second

var errProbe = fmt.Errorf("%w: unexpected probe answer", engineio.ErrInvalidPacket)

// upgrade moves a polling connection to WebSocket (protocol-notes §3.5) on
// its own goroutine: open the WebSocket with the sid, send "2probe" and
// await "3probe" while polling goes on; then pause (the polling reader
// hands over after its GET returns, the writer stops after its POST), send
// "5", switch, flush what queued meanwhile, and become the WebSocket
// reader. Packets cannot be lost or reordered: polling has delivered all it
// carried before "5" is sent, and everything sent after it goes over the
// WebSocket in queue order.
func (c *EngineConn) upgrade() {
	ctx, cancel := context.WithTimeout(c.ctx, upgradeTimeout)
	w, err := c.dialWS(ctx, c.wsURL)
	if err == nil {
		err = c.exchangeProbe(ctx, w)
	}
	cancel()
	if err != nil {
		c.abortUpgrade(w, fmt.Errorf("client: upgrade: %w", err))
		return
	}

	c.mu.Lock()
	if c.closing || c.probe != w {
		c.mu.Unlock()
		c.abortUpgrade(w, c.Err())
		return
	}
	c.paused = true
	handoff := make(chan struct{})
	c.handoff = handoff
	var writer chan struct{}
	if c.writing {
		writer = make(chan struct{})
		c.pauseWait = writer
	}
	c.mu.Unlock()
	<-handoff
	if writer != nil {
		<-writer
	}

	c.mu.Lock()
	ok := c.handedOff && !c.closing && c.probe == w
	c.mu.Unlock()
	if ok {
		err = w.write(appendFrame(nil, ws.OpText, '0'+int(engineio.PacketUpgrade), nil))
		if err != nil {
			err = fmt.Errorf("client: upgrade: %w", err)
		}
	} else {
		err = c.Err()
		if err == nil {
			err = fmt.Errorf("client: upgrade: %w", ErrClosed)
		}
	}
	if !ok || err != nil {
		c.abortUpgrade(w, err)
		return
	}

	c.mu.Lock()
	c.ws, c.probe = w, nil
	c.paused, c.handedOff, c.upgrading = false, false, false
	flush := !c.q.empty() && !c.writing
	if flush {
		c.writing = true
	}
	c.mu.Unlock()
	if c.ownHTTP != nil {
		c.ownHTTP.CloseIdleConnections()
	}
	if flush {
		_ = c.flush()
	}
	if f := c.opts.OnUpgrade; f != nil {
		f(nil)
	}
	c.wsLoop(w)
}

// exchangeProbe registers w as the upgrade's WebSocket and exchanges the probe.
func (c *EngineConn) exchangeProbe(ctx context.Context, w *wsConn) error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		w.conn.Close()
		return ErrClosed
	}
	c.probe = w
	c.mu.Unlock()
	if err := w.write(appendFrame(nil, ws.OpText, '0'+int(engineio.PacketPing), []byte("probe"))); err != nil {
		return err
	}
	p, msg, err := c.readPacketCtx(ctx, w)
	if err == nil && (p.Type != engineio.PacketPong || string(p.Data) != "probe") {
		err = errProbe
	}
	putBuf(msg)
	return err
}

// abortUpgrade drops the probe and resumes polling. If the polling reader
// had already handed over, this goroutine becomes the polling reader.
func (c *EngineConn) abortUpgrade(w *wsConn, err error) {
	c.mu.Lock()
	if w != nil && c.probe == w {
		c.probe = nil
	}
	c.paused = false
	c.handoff = nil // the reader never stopped: it goes on polling
	reader := c.handedOff
	c.handedOff = false
	if reader {
		c.upgrading = false // the reader role keeps the connection running
	}
	flush := !c.q.empty() && !c.writing && !c.tornDown
	if flush {
		c.writing = true
	}
	c.mu.Unlock()
	if w != nil {
		w.conn.Close()
	}
	if flush {
		_ = c.flush()
	}
	if f := c.opts.OnUpgrade; f != nil {
		f(err)
	}
	if reader {
		c.pollLoop()
		return
	}
	c.mu.Lock()
	c.upgrading = false
	c.mu.Unlock()
	c.release()
}
