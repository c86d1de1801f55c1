// One Node node of the Redis cluster benchmark (bench/cluster): socket.io
// 4.8 with the official @socket.io/redis-adapter 8.3 (classic pub/sub form,
// ioredis clients), socket.io's defaults, and
//
//   event "bcast"  its arguments are broadcast as "tick" to every other
//                  socket of "/" in the cluster (socket.broadcast.emit)
//
// the same behaviour as ../herald (Herald with adapter/redis).
//
//   node server.js --addr 127.0.0.1:0 --redis 127.0.0.1:6379 --key bench
//
// Prints "pid N" and then "ready ADDR" once it listens.
"use strict";

const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { Redis } = require("ioredis");

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const addr = arg("--addr", "127.0.0.1:0");
const [rhost, rport] = arg("--redis", "127.0.0.1:6379").split(":");
const key = arg("--key", "socket.io");

const pubClient = new Redis({ host: rhost, port: Number(rport) });
const subClient = pubClient.duplicate();
const server = http.createServer();
const io = new Server(server, { adapter: createAdapter(pubClient, subClient, { key }) });
io.on("connection", (socket) => {
  socket.on("bcast", (...args) => socket.broadcast.emit("tick", ...args));
});

// The driver checks the cluster end to end before measuring (a warm-up
// broadcast from node 1 must reach a client of node 2), so it listens at
// once.
const i = addr.lastIndexOf(":");
server.listen(Number(addr.slice(i + 1)), addr.slice(0, i), () => {
  const a = server.address();
  process.stdout.write(`pid ${process.pid}\nready ${a.address}:${a.port}\n`);
});

for (const s of ["SIGINT", "SIGTERM"]) {
  process.on(s, () => {
    io.close();
    pubClient.disconnect();
    subClient.disconnect();
    process.exit(0);
  });
}
