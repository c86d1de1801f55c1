// Package client has Go clients for Engine.IO and Socket.IO, used by the
// project's tests and load generator and useful for service-to-service
// connections and bots.
//
// Socket.IO: NewManager opens one Engine.IO connection to a server and
// multiplexes namespaces over it (Manager.Socket); Dial is the shortcut for
// one namespace. A Socket connects with an auth payload, emits events with
// or without acknowledgement (EmitWithAck, Timeout), receives them with On,
// and reconnects with exponential backoff after a transport loss, as the
// JavaScript client does. It speaks protocol 5, and protocol 4 over
// Engine.IO 3 (EngineOptions.Protocol = 3). Handlers of a manager run one at
// a time in arrival order; acknowledgements are resolved as they arrive.
//
// Engine.IO: DialEngine performs the handshake and returns an EngineConn
// speaking protocol 4 or 3 over HTTP long-polling and WebSocket, upgrading
// a polling connection as the JavaScript client does (protocol-notes §3);
// messages arrive through EngineOptions.OnMessage and leave through
// SendText and SendBinary. Each connection runs one reader goroutine (plus
// a short-lived one during an upgrade) and one runtime timer for the
// heartbeat, so a process can hold thousands of them.
//
// The wire encodings are packages engineio's and socketio's; errors for
// refused HTTP requests are *engineio.RequestError.
package client
