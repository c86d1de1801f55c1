package socketio

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// handshakeJSON is Node's socket.handshake as JSON: header names in lower
// case, each with one string value; query values as strings (an array when
// repeated); time as Date.toString() and issued in Unix milliseconds.
// Cluster adapters send it in fetchSockets responses, so that Go and Node
// servers describe their sockets to each other alike.
type handshakeJSON struct {
	Headers map[string]any  `json:"headers"`
	Time    string          `json:"time"`
	Address string          `json:"address"`
	XDomain bool            `json:"xdomain"`
	Secure  bool            `json:"secure"`
	Issued  int64           `json:"issued"`
	URL     string          `json:"url"`
	Query   map[string]any  `json:"query"`
	Auth    json.RawMessage `json:"auth"`
}

// nodeDateLayout is JavaScript's Date.prototype.toString in UTC.
const nodeDateLayout = "Mon Jan 02 2006 15:04:05 GMT+0000 (Coordinated Universal Time)"

// MarshalJSON encodes h as Node's socket.handshake.
func (h *Handshake) MarshalJSON() ([]byte, error) {
	j := handshakeJSON{
		Headers: make(map[string]any, len(h.Header)),
		Time:    h.Time.UTC().Format(nodeDateLayout),
		Address: h.Address,
		XDomain: h.XDomain,
		Secure:  h.Secure,
		Issued:  h.Time.UnixMilli(),
		URL:     h.URL,
		Query:   make(map[string]any, len(h.Query)),
		Auth:    h.Auth,
	}
	for k, v := range h.Header {
		k = strings.ToLower(k)
		if k == "set-cookie" {
			j.Headers[k] = v
			continue
		}
		j.Headers[k] = strings.Join(v, ", ")
	}
	for k, v := range h.Query {
		if len(v) == 1 {
			j.Query[k] = v[0]
		} else {
			j.Query[k] = v
		}
	}
	if len(j.Auth) == 0 {
		j.Auth = json.RawMessage("{}")
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes Node's socket.handshake, as sent by another server
// of the cluster.
func (h *Handshake) UnmarshalJSON(b []byte) error {
	var j handshakeJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("socketio: handshake: %w", err)
	}
	*h = Handshake{
		Header:  make(http.Header, len(j.Headers)),
		Query:   make(url.Values, len(j.Query)),
		Auth:    j.Auth,
		Address: j.Address,
		URL:     j.URL,
		Secure:  j.Secure,
		XDomain: j.XDomain,
		Time:    time.UnixMilli(j.Issued).UTC(),
	}
	if j.Issued == 0 {
		if t, err := time.Parse(nodeDateLayout, j.Time); err == nil {
			h.Time = t
		}
	}
	for k, v := range j.Headers {
		h.Header[http.CanonicalHeaderKey(k)] = stringValues(v)
	}
	for k, v := range j.Query {
		h.Query[k] = stringValues(v)
	}
	return nil
}

// stringValues reads a JSON string, or an array of them, as values; other
// scalars keep their JSON text.
func stringValues(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			out = append(out, stringValues(e)...)
		}
		return out
	case nil:
		return nil
	}
	b, _ := json.Marshal(v)
	return []string{string(b)}
}
