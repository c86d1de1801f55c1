// Node engine.io echo server: the peer that bench/idle measures Herald
// against. Same behaviour as bench/servers/herald-eio: every message is sent
// back unchanged, engine.io's defaults otherwise (pingInterval 25000,
// pingTimeout 20000, path /engine.io/).
//
//   node server.js [--addr HOST:PORT | --port PORT]   (or PORT / HOST env)
//
// Prints "pid N" and then "ready" on stdout once it listens.
"use strict";

const http = require("http");
const { Server } = require("engine.io");

function arg(name) {
  const i = process.argv.indexOf(name);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(name + "="));
  return eq ? eq.slice(name.length + 1) : undefined;
}

let host = process.env.HOST || "127.0.0.1";
let port = Number(process.env.PORT || 3000);
const addr = arg("--addr");
if (addr) {
  const i = addr.lastIndexOf(":");
  if (i > 0) host = addr.slice(0, i);
  port = Number(addr.slice(i + 1));
} else if (arg("--port")) {
  port = Number(arg("--port"));
}

const engine = new Server({
  pingInterval: Number(process.env.PING_INTERVAL || 25000),
  pingTimeout: Number(process.env.PING_TIMEOUT || 20000),
});

engine.on("connection", (socket) => {
  socket.on("message", (data) => socket.send(data));
});

const server = http.createServer();
engine.attach(server); // path "/engine.io/"
server.listen({ host, port, backlog: 4096 }, () => {
  process.stdout.write(`pid ${process.pid}\nready\n`);
});

function shutdown() {
  engine.close();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
