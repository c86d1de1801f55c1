package client

import (
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/heraldio/herald/engineio"
)

// queue holds outgoing packets, whatever the transport: their payloads in
// one buffer and one entry per packet, so queueing copies but rarely
// allocates.
type queue struct {
	data []byte
	ents []qent
}

type qent struct {
	typ engineio.PacketType
	bin bool
	end int // end of the payload in data
}

func (q *queue) push(t engineio.PacketType, bin bool, data []byte) {
	q.data = append(q.data, data...)
	q.ents = append(q.ents, qent{typ: t, bin: bin, end: len(q.data)})
}

func (q *queue) empty() bool { return len(q.ents) == 0 }

// each calls fn for the packets in order until it returns false.
func (q *queue) each(fn func(engineio.Packet) bool) {
	start := 0
	for _, e := range q.ents {
		if !fn(engineio.Packet{Type: e.typ, Binary: e.bin, Data: q.data[start:e.end]}) {
			return
		}
		start = e.end
	}
}

// maxRetained is the largest buffer an idle connection keeps for reuse.
const maxRetained = 4 << 10

func (q *queue) reset() {
	if cap(q.data) > maxRetained {
		q.data = nil
	} else {
		q.data = q.data[:0]
	}
	if cap(q.ents) > maxRetained/8 {
		q.ents = nil
	} else {
		q.ents = q.ents[:0]
	}
}

// send queues a packet and, unless a write or an upgrade is in progress,
// writes the queue.
func (c *EngineConn) send(t engineio.PacketType, bin bool, data []byte) error {
	c.mu.Lock()
	if c.closing {
		err := c.closeErr
		c.mu.Unlock()
		return err
	}
	if max := c.hs.MaxPayload; max > 0 && t == engineio.PacketMessage && c.encodedLenLocked(bin, data) > max {
		c.mu.Unlock()
		return ErrMessageTooLarge
	}
	c.q.push(t, bin, data)
	if c.writing || c.paused {
		c.mu.Unlock()
		return nil
	}
	c.writing = true
	c.mu.Unlock()
	return c.flush()
}

// encodedLenLocked returns the size of a message as the server measures it
// against maxPayload on the current transport: the WebSocket message, or
// the polling record.
func (c *EngineConn) encodedLenLocked(bin bool, data []byte) int64 {
	n := len(data)
	switch {
	case c.ws != nil && bin && c.protocol == 4:
		return int64(n)
	case c.ws != nil:
		return int64(1 + n)
	case bin && c.protocol == 4:
		return int64(1 + (n+2)/3*4)
	case c.protocol == 4:
		return int64(1 + n)
	}
	units := 2 + (n+2)/3*4 // protocol 3 binary: "b4" + base64
	size := units
	if !bin {
		units = 1 + utf8.RuneCount(data)*2 // at most two UTF-16 units a rune
		size = 1 + n
	}
	return int64(len(strconv.Itoa(units)) + 1 + size)
}

// flush writes the queue until it is empty, the connection is torn down or
// an upgrade pauses writes. The caller has set c.writing. A graceful close
// ends here: once the close packet is out, the transport is torn down.
func (c *EngineConn) flush() error {
	for {
		c.mu.Lock()
		if c.q.empty() || c.paused || c.tornDown {
			c.writing = false
			c.wakePauseLocked()
			teardown := c.closing && !c.paused
			c.mu.Unlock()
			if teardown {
				c.teardown()
			}
			c.release()
			return nil
		}
		batch := c.q
		c.q, c.spare = c.spare, queue{}
		ws := c.ws
		c.mu.Unlock()

		var err error
		if ws != nil {
			err = c.writeFrames(ws, &batch)
		} else {
			err = c.post(&batch)
		}
		batch.reset()
		c.mu.Lock()
		c.spare = batch
		if err != nil {
			c.writing = false
			c.wakePauseLocked()
		}
		c.mu.Unlock()
		if err != nil {
			c.fail(engineio.ReasonTransportError, err)
			c.release()
			return c.Err()
		}
	}
}

// wakePauseLocked tells a pausing upgrade that the writer has stopped.
func (c *EngineConn) wakePauseLocked() {
	if c.pauseWait != nil {
		close(c.pauseWait)
		c.pauseWait = nil
	}
}

// writeFrames writes the batch as masked WebSocket frames in one write.
func (c *EngineConn) writeFrames(w *wsConn, q *queue) error {
	buf := getBuf()
	q.each(func(p engineio.Packet) bool {
		buf = appendPacketFrame(buf, p, c.protocol == 3)
		return true
	})
	err := w.write(buf)
	putBuf(buf)
	return err
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// getBuf returns an empty buffer from the pool.
func getBuf() []byte { return (*bufPool.Get().(*[]byte))[:0] }

// putBuf returns b to the pool unless it grew large.
func putBuf(b []byte) {
	if cap(b) == 0 || cap(b) > 64<<10 {
		return
	}
	b = b[:0]
	bufPool.Put(&b)
}
