package client

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/heraldio/herald/engineio"
)

// newTransport returns the HTTP transport of a connection without
// EngineOptions.HTTPClient: two connections to the server suffice (the held
// GET and a POST).
func newTransport(o *EngineOptions) *http.Transport {
	dial := o.NetDial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dial,
		TLSClientConfig:     o.TLSConfig,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
	}
}

func (c *EngineConn) header() http.Header {
	if c.opts.Header == nil {
		return make(http.Header)
	}
	return c.opts.Header.Clone()
}

// handshakePolling opens the session with a polling GET.
func (c *EngineConn) handshakePolling(ctx context.Context, u *url.URL) error {
	body, bin, err := c.get(ctx, c.transportURL(u, engineio.TransportPolling, ""))
	if err != nil {
		return fmt.Errorf("client: handshake: %w", err)
	}
	defer putBuf(body)
	first := true
	err = c.decodePayload(body, bin, func(p engineio.Packet) error {
		if first {
			first = false
			if p.Type != engineio.PacketOpen {
				return fmt.Errorf("%w: %s packet before open", engineio.ErrInvalidPacket, p.Type)
			}
			hs, err := parseHandshake(p.Data)
			c.hs = hs
			return err
		}
		p.Data = bytes.Clone(p.Data)
		c.initial = append(c.initial, p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("client: handshake: %w", err)
	}
	c.pollURL = c.transportURL(u, engineio.TransportPolling, c.hs.SID)
	c.wsURL = c.transportURL(u, engineio.TransportWebSocket, c.hs.SID)
	return nil
}

// get sends a polling GET and returns the body in a pooled buffer, and
// whether it is a protocol 3 binary payload.
func (c *EngineConn) get(ctx context.Context, target string) ([]byte, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, false, err
	}
	req.Header = c.header()
	resp, err := c.httpc.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("polling GET: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, false, fmt.Errorf("polling GET: %w", refusal(resp))
	}
	r := io.Reader(resp.Body)
	if !resp.Uncompressed {
		// Decoded by hand only when the caller's Header asked for it.
		switch resp.Header.Get("Content-Encoding") {
		case "gzip":
			zr, err := gzip.NewReader(r)
			if err != nil {
				return nil, false, fmt.Errorf("polling GET: %w", err)
			}
			r = zr
		case "deflate":
			zr, err := zlib.NewReader(r)
			if err != nil {
				return nil, false, fmt.Errorf("polling GET: %w", err)
			}
			r = zr
		}
	}
	body, err := readLimited(r, c.opts.ReadLimit)
	if err != nil {
		putBuf(body)
		return nil, false, fmt.Errorf("polling GET: %w", err)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return body, mt == "application/octet-stream", nil
}

// errTooLarge is the cause of a close when the server sends more than
// EngineOptions.ReadLimit at once.
var errTooLarge = errors.New("client: message exceeds ReadLimit")

// readLimited reads r to the end into a pooled buffer, failing beyond limit
// bytes while reading rather than after.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	buf := getBuf()
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// refusal reads the error of a refused request.
func refusal(resp *http.Response) *engineio.RequestError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return requestError(resp.StatusCode, body)
}

func (c *EngineConn) decodePayload(body []byte, bin bool, fn func(engineio.Packet) error) error {
	switch {
	case c.protocol == 4:
		return engineio.DecodePayloadV4(body, fn)
	case bin:
		return engineio.DecodeBinaryPayloadV3(body, fn)
	}
	return engineio.DecodePayloadV3(body, fn)
}

// post sends the batch in as few POSTs as maxPayload allows. Protocol 3
// batches are string payloads with binary as base64 records.
func (c *EngineConn) post(q *queue) error {
	body := getBuf()
	defer func() { putBuf(body) }()
	max := c.hs.MaxPayload
	var err error
	q.each(func(p engineio.Packet) bool {
		n := len(body)
		if c.protocol == 4 {
			body = engineio.AppendPayloadRecordV4(body, p)
		} else {
			body = engineio.AppendPayloadRecordV3(body, p)
		}
		if max <= 0 || int64(len(body)) <= max || n == 0 {
			return true
		}
		if err = c.postBody(body[:n]); err != nil {
			return false
		}
		rec := body[n:]
		if c.protocol == 4 {
			rec = rec[1:] // the record separator
		}
		body = body[:copy(body, rec)]
		return true
	})
	if err != nil {
		return err
	}
	return c.postBody(body)
}

func (c *EngineConn) postBody(body []byte) error {
	req, err := http.NewRequestWithContext(c.ctx, http.MethodPost, c.pollURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = c.header()
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := c.httpc.Do(req)
	if err != nil {
		return fmt.Errorf("polling POST: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("polling POST: %w", refusal(resp))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	return nil
}

// pollLoop is the reader of a polling connection: it keeps one GET
// outstanding until the connection closes or an upgrade pauses polling,
// when it hands the reader role to the upgrade's goroutine.
func (c *EngineConn) pollLoop() {
	initial := c.initial
	c.initial = nil
	for _, p := range initial {
		c.onPacket(p)
	}
	for {
		c.mu.Lock()
		if c.closing {
			if c.handoff != nil {
				close(c.handoff)
				c.handoff = nil
			}
			c.mu.Unlock()
			break
		}
		if c.paused && c.handoff != nil {
			c.handedOff = true
			close(c.handoff)
			c.handoff = nil
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		body, bin, err := c.get(c.ctx, c.pollURL)
		if err != nil {
			c.fail(engineio.ReasonTransportError, err)
			continue
		}
		err = c.decodePayload(body, bin, func(p engineio.Packet) error {
			c.onPacket(p)
			return nil
		})
		putBuf(body)
		if err != nil {
			c.fail(engineio.ReasonParseError, err)
		}
	}
	c.endReader()
}
