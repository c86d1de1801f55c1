// Package loadgen is the engine of "herald bench": it drives thousands of
// Socket.IO clients (package client's Engine.IO connections, speaking the
// Socket.IO framing directly) against any Socket.IO server and measures the
// server and itself.
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
