// Package engineio is an Engine.IO server: the transport layer under
// Socket.IO. It speaks protocol 4 (Engine.IO 4+, socket.io-client 3 and 4)
// and protocol 3 (socket.io-client 2) at once, over HTTP long-polling and
// WebSocket, including the upgrade from one to the other
// (https://github.com/socketio/engine.io-protocol).
//
// Start with NewServer, which takes a Handler (OnOpen, OnMessage, OnClose)
// and returns an http.Handler to mount at the clients' path. Each client is
// a Session; Session.Send queues a Message and never blocks on the network.
// A Message encodes itself once per wire form, so a broadcast hands the same
// bytes to every recipient.
//
// How it is built, and why (see architecture.md in the project's docs):
//   - WebSocket connections are hijacked from net/http and framed with
//     gobwas/ws. On Linux, idle connections are watched with epoll and hold
//     no goroutine and no buffer; a goroutine reads only while a message
//     arrives. Elsewhere (or with Options.DisableEpoll) each connection has
//     one reader goroutine.
//   - Writes go through a bounded per-session queue, flushed with one
//     vectored write by whoever finds it idle. Options.MaxQueuedBytes bounds
//     a slow consumer: past it the session closes with ErrSlowConsumer.
//   - Heartbeats and upgrade timeouts of all sessions share one scheduler
//     goroutine and one timer.
//   - A polling POST is handed to the application before it is answered,
//     so the next GET carries every reply.
//
// The packet and payload codecs (DecodeText, DecodePayloadV4,
// DecodePayloadV3, AppendPayloadRecordV4...) do no I/O and are used by the
// client package too.
//
// On the open internet, limits bound what one client can take: bodies and
// messages (MaxHTTPBufferSize), send queues (MaxQueuedBytes), sessions per
// client address (MaxConnectionsPerIP, 429 past it) and the handshake
// header a session keeps (MaxHeaderBytes, 431 past it). A polling POST
// body must arrive within PingInterval + PingTimeout, and a graceful close
// flushes for at most PingTimeout. What happens before a request reaches
// the Server is net/http's: serve it with an http.Server that sets
// ReadHeaderTimeout (a few seconds; without it a client that sends half a
// header holds a connection and a goroutine forever) and MaxHeaderBytes,
// and leaves ReadTimeout and WriteTimeout at zero or above PingInterval,
// since a polling GET is held for up to PingInterval:
//
//	hs := &http.Server{
//		Handler:           srv,
//		ReadHeaderTimeout: 5 * time.Second,
//		MaxHeaderBytes:    64 << 10,
//		IdleTimeout:       2 * time.Minute,
//	}
//
// RELIABILITY.md at the root of the repository lists the abuse tests and
// what each one measured.
package engineio
