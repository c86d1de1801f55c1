// Package loadgen is the engine of "herald bench": it drives thousands of
// Socket.IO clients (Engine.IO connections speaking the Socket.IO framing
// directly) against any Socket.IO server and measures the server and
// itself.
//
// A run is one scenario (idle, fanout, burst, echo, connect) against one
// server. Run coordinates it: it starts workers (by default copies of the
// running binary, so that connections spread over several processes, each
// below the per-process open-file limit, each bound to its own 127.0.0.x
// source address), holds the broadcast source itself, samples the server's
// CPU and RSS from /proc when given its PID, and merges what the workers
// report into a Result. ServeWorker is a worker's side: it reads commands as
// JSON lines and answers with events.
//
// A worker receives in one of two ways. On Linux, by default, its WebSocket
// clients take the epoll receive path: each is dialled with gobwas/ws (the
// upgrade to /socket.io/?EIO=4&transport=websocket, from the worker's
// source address), its open packet read, and its socket then handed to the
// worker's poller goroutine, which waits in epoll_wait on all of them and
// reads every ready one into a buffer of its own. A connection holds a
// buffer only while a frame is split across reads or a message fragmented.
// The poller answers pings and passes messages to the same accounting as
// the other path; sends, from any goroutine, are masked frames written under
// a lock per connection. This path does not watch the server's heartbeat: a
// server gone silent shows as an undrained run. With Config.NoEpoll (herald
// bench --epoll=false), over polling, TLS or on other systems, every client
// is instead a package client EngineConn with a reader goroutine of its
// own, which costs the load generator more memory and CPU, taken from the
// machine that runs the server too.
//
// The servers measured must follow the bench protocol that
// bench/servers/herald, bench/peers/node and bench/peers/zishang implement:
// event "broadcast" is broadcast to every other socket as "tick", event
// "echo" is acknowledged with its own arguments, and GET /bench/stats returns
// {"clients": n, "goroutines": n or null}.
//
// Fan-out payloads are strings "<seq>:<unix ns>:<padding>": latency is the
// receiver's clock minus the source's stamp (both processes on one machine,
// one CLOCK_REALTIME), and each receiver counts sequence gaps as lost
// messages and repeats as duplicates.
package loadgen
