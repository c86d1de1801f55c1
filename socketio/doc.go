// Package socketio is a Socket.IO server. It speaks protocol 5
// (socket.io-client 3 and 4) and protocol 4 (socket.io-client 2) at once,
// over package engineio (https://github.com/socketio/socket.io-protocol).
//
// Start with NewServer, an http.Handler to mount at "/socket.io/". Of
// returns a Namespace (OfFunc and OfRegexp make dynamic ones); Use adds
// connection middleware that sees the Handshake and can refuse with a
// ConnectError; OnConnection gives each Socket, on which On registers event
// handlers. Handlers receive the event's Args still as JSON, decoded on
// demand (Args.Decode, Arg, On[T]), and an Ack when the client wants one.
// []byte values anywhere in emitted arguments travel as binary attachments,
// and decode back into []byte fields.
//
// Broadcasts select rooms with a BroadcastOperator value chain (To, Except,
// Local, Volatile, Timeout) ending in Emit, EmitWithAck or a server-wide
// operation (FetchSockets, SocketsJoin, SocketsLeave, DisconnectSockets).
// They go through the namespace's Adapter: the in-memory one by default, a
// cluster adapter to span servers. A broadcast is encoded once and the same
// bytes reach every recipient.
//
// Options.ConnectionStateRecovery lets a client that lost its connection
// get its socket back with the events it missed; Options.Parser selects the
// wire format (JSONParser, or MsgpackParser for socket.io-msgpack-parser).
//
// Ordering and concurrency: each client's connects and events are handled
// one at a time, in arrival order, on a goroutine that runs while there is
// work; acknowledgements are resolved as they arrive, so a handler may wait
// for EmitWithAck to the same client. Every method is safe for concurrent use.
package socketio
