// Package cluster is the Go equivalent of socket.io-adapter's ClusterAdapter
// and ClusterAdapterWithHeartbeat: a socketio.Adapter that spans several
// servers over any message transport, speaking the message format of the
// Node adapters built on it (@socket.io/postgres-adapter, the sharded mode
// of @socket.io/redis-adapter, the streams and mongo adapters), so Go and
// Node servers can share one cluster.
//
// Start with New, which wraps the in-memory adapter of a namespace: local
// sockets are served through it, and everything a socketio.Adapter does
// cluster-wide is also sent to the other servers as a Message through a
// Transport. The transport owner feeds every message it receives to
// Adapter.HandleMessage and calls Adapter.Init once it receives (and again
// after each reconnection) so that peers announce themselves at once.
//
// Wire format (shared/docs/socketio-reference.md §9.4): a message is
// {"type":N,"data":…,"uid":…,"nsp":…}, JSON, or MessagePack (notepack
// style, binary as bin) when its data holds binary. Encode, AppendJSON,
// AppendMsgpack and Decode do no I/O.
//
// Server count: by default it comes from heartbeats, as
// ClusterAdapterWithHeartbeat: every server publishes a HEARTBEAT when it
// has published nothing for Options.HeartbeatInterval, answers an
// INITIAL_HEARTBEAT with a HEARTBEAT, and forgets a peer silent for
// Options.HeartbeatTimeout or that sent ADAPTER_CLOSE; the uid "emitter" and
// messages without a uid are never counted. When Options.ServerCount is
// set (the sharded Redis adapter counts subscribers with PUBSUB
// SHARDNUMSUB) heartbeats are off, as in the plain ClusterAdapter.
//
// Delivery: messages leave through one bounded queue per adapter, in the
// order the adapter methods were called, so a broadcast never waits on the
// network and local delivery keeps working while the transport is down;
// when the queue is full, messages are dropped and counted (Stats), and a
// message whose transport call fails is not retried. Nothing is replayed
// after a transport outage: broadcasts that failed or were missed during
// the gap are lost, as with the Node adapters.
package cluster
