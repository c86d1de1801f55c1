// cluster-node.mjs: one Node socket.io 4.8 server on the official
// @socket.io/postgres-adapter 0.5.0, plus official socket.io-client 4.8
// clients (on this server or any other), driven by the Go test through
// JSON lines: commands on stdin {id, op, ...}, and on stdout
// {event:"ready", port}, {event:"reply", id, result | error},
// {event:"client", client, name, args} for every event a client receives,
// {event:"gone", client, reason} when a client is disconnected, and
// {event:"sse", name, args} for server-side events without ack.
// Binary values are written as {"$bin": "<hex>"}.
// Usage: node js/cluster-node.mjs <postgres url> <channel prefix> <table>
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/postgres-adapter";
import { io as connect } from "socket.io-client";
import pg from "pg";

const [url, prefix, table] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

const toJSON = (v) => {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return { $bin: Buffer.from(v).toString("hex") };
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString("hex") };
  if (Array.isArray(v)) return v.map(toJSON);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJSON(x)]));
  return v;
};
const fromJSON = (v) => {
  if (Array.isArray(v)) return v.map(fromJSON);
  if (v && typeof v === "object") {
    if (typeof v.$bin === "string") return Buffer.from(v.$bin, "hex");
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromJSON(x)]));
  }
  return v;
};

const pool = new pg.Pool({ connectionString: url, max: 4 });
pool.on("error", () => {});
await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (id bigserial UNIQUE, created_at timestamptz DEFAULT NOW(), payload bytea)`);

const httpServer = createServer();
const io = new Server(httpServer, { adapter: createAdapter(pool, { channelPrefix: prefix, tableName: table }) });
io.on("connection", (socket) => {
  const auth = socket.handshake.auth || {};
  socket.join(auth.rooms || []);
  socket.data = { name: auth.name };
});
io.on("hello", (...args) => {
  const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
  if (ack) ack("N", args[0] * 2);
  else out({ event: "sse", name: "hello", args: toJSON(args) });
});

const clients = new Map();

function operator(cmd) {
  let op = io.of(cmd.nsp || "/");
  if (cmd.rooms && cmd.rooms.length) op = op.to(cmd.rooms);
  if (cmd.except && cmd.except.length) op = op.except(cmd.except);
  if (cmd.volatile) op = op.volatile;
  if (cmd.local) op = op.local;
  if (cmd.compress === false) op = op.compress(false);
  if (cmd.timeout) op = op.timeout(cmd.timeout);
  return op;
}

const ops = {
  async serverCount() {
    return io.of("/").adapter.serverCount();
  },
  async emit(cmd) {
    operator(cmd).emit(cmd.event, ...fromJSON(cmd.args || []));
    return true;
  },
  async emitWithAck(cmd) {
    return toJSON(await operator(cmd).emitWithAck(cmd.event, ...fromJSON(cmd.args || [])));
  },
  async fetchSockets(cmd) {
    const sockets = await operator(cmd).fetchSockets();
    return sockets.map((s) => ({ id: s.id, rooms: [...s.rooms], data: s.data, auth: s.handshake.auth, address: s.handshake.address, time: s.handshake.time }));
  },
  async remoteEmit(cmd) {
    const sockets = await operator(cmd).fetchSockets();
    for (const s of sockets) s.emit(cmd.event, ...fromJSON(cmd.args || []));
    return sockets.length;
  },
  async socketsJoin(cmd) {
    operator(cmd).socketsJoin(cmd.join);
    return true;
  },
  async socketsLeave(cmd) {
    operator(cmd).socketsLeave(cmd.leave);
    return true;
  },
  async disconnectSockets(cmd) {
    operator(cmd).disconnectSockets(!!cmd.close);
    return true;
  },
  async serverSideEmit(cmd) {
    io.serverSideEmit(cmd.event, ...fromJSON(cmd.args || []));
    return true;
  },
  async serverSideEmitWithAck(cmd) {
    return toJSON(await io.serverSideEmitWithAck(cmd.event, ...fromJSON(cmd.args || [])));
  },
  async client(cmd) {
    const target = cmd.url === "self" ? `http://127.0.0.1:${httpServer.address().port}` : cmd.url;
    const socket = connect(target, { auth: { rooms: cmd.rooms || [], name: cmd.name }, transports: cmd.transports || ["websocket"], reconnection: false, forceNew: true });
    clients.set(cmd.name, socket);
    socket.onAny((name, ...args) => {
      if (name === "ask") return;
      out({ event: "client", client: cmd.name, name, args: toJSON(args) });
    });
    socket.on("ask", (v, ack) => ack(`${cmd.name}:${v}`));
    socket.on("disconnect", (reason) => out({ event: "gone", client: cmd.name, reason }));
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    });
    return socket.id;
  },
  async close() {
    for (const s of clients.values()) s.disconnect();
    await new Promise((r) => io.close(() => r()));
    await pool.end().catch(() => {});
    setImmediate(() => process.exit(0));
    return true;
  },
};

createInterface({ input: process.stdin }).on("line", async (line) => {
  const cmd = JSON.parse(line);
  try {
    out({ event: "reply", id: cmd.id, result: await ops[cmd.op](cmd) });
  } catch (e) {
    out({ event: "reply", id: cmd.id, error: String(e && e.message || e) });
  }
});
process.stdin.on("end", () => process.exit(0));

httpServer.listen(0, "127.0.0.1", () => out({ event: "ready", port: httpServer.address().port }));
