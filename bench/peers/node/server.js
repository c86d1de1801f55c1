// Node socket.io 4.8 server: the peer that "herald bench" measures Herald
// against. Same behaviour as bench/servers/herald and bench/peers/zishang:
// socket.io's defaults (pingInterval 25000, pingTimeout 20000, path
// /socket.io/), and
//
//   event "broadcast"  the arguments are broadcast as "tick" to every other
//                      socket of "/" (socket.broadcast.emit)
//   event "echo"       acknowledged with the same arguments
//   GET /bench/stats   {"server","pid","clients","goroutines":null,...} as JSON
//                      (?gc=1 collects garbage first when node runs with
//                      --expose-gc)
//
//   node server.js [--addr HOST:PORT | --port PORT]   (or PORT / HOST env)
//
// Prints "pid N" and then "ready" on stdout once it listens.
"use strict";

const http = require("http");
const { Server } = require("socket.io");

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

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  if (req.method === "GET" && url.pathname === "/bench/stats") {
    if (url.searchParams.get("gc") && global.gc) global.gc();
    const m = process.memoryUsage();
    res.setHeader("Content-Type", "application/json");
    res.end(
      JSON.stringify({
        server: "node",
        pid: process.pid,
        clients: io.engine.clientsCount,
        goroutines: null,
        heap_used: m.heapUsed,
        rss: m.rss,
      }) + "\n",
    );
    return;
  }
  res.statusCode = 404;
  res.end();
});

const io = new Server(server);
io.on("connection", (socket) => {
  socket.on("broadcast", (...args) => socket.broadcast.emit("tick", ...args));
  socket.on("echo", (...args) => {
    const ack = args.pop();
    if (typeof ack === "function") ack(...args);
  });
});

server.listen({ host, port, backlog: 4096 }, () => {
  process.stdout.write(`pid ${process.pid}\nready\n`);
});

function shutdown() {
  io.close();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
