// One Node socket.io 4.8 server on the official Redis adapter, plus official
// socket.io-client 4.8 clients (of this server and of the Herald servers),
// plus the official emitter, driven by the Go test over stdin/stdout:
// every stdin line is a JSON command {id, op, ...}; stdout lines are JSON
// events: {event:"reply", id, ...} answers a command, {event:"recv", client,
// name, args} reports an event a client received, {event:"ss", args}
// a server-side event this server received. Binary values are reported as
// {"$bin": "<hex>"}.
//
// Usage: node js/cluster.mjs <key> <classic|classic-specific|static|dynamic|dynamic-private> [redis-url]
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { Server } from "socket.io";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { Emitter } from "@socket.io/redis-emitter";
import { io as ioc } from "socket.io-client";
import { Redis } from "ioredis";

const [key, mode = "classic", url = "redis://127.0.0.1:6379"] = process.argv.slice(2);
const pub = new Redis(url);
const sub = new Redis(url);
const emitterClient = new Redis(url);

const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const enc = (v) => {
  if (Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    return { $bin: Buffer.from(v instanceof ArrayBuffer ? new Uint8Array(v) : v).toString("hex") };
  }
  if (Array.isArray(v)) return v.map(enc);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, enc(x)]));
  return v;
};
const dec = (v) => {
  if (Array.isArray(v)) return v.map(dec);
  if (v && typeof v === "object") {
    if (typeof v.$bin === "string") return Buffer.from(v.$bin, "hex");
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, dec(x)]));
  }
  return v;
};

const classic = mode === "classic" || mode === "classic-specific";
const adapter = classic
  ? createAdapter(pub, sub, { key, publishOnSpecificResponseChannel: mode === "classic-specific" })
  : createShardedAdapter(pub, sub, { channelPrefix: key, subscriptionMode: mode });
const http = createServer();
const io = new Server(http, { adapter });
io.on("ping", (...args) => {
  const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
  out({ event: "ss", args: enc(args) });
  if (ack) ack("pong-node");
});
io.of("/").adapter.on("error", () => {});

const clients = new Map();
const emitter = classic ? new Emitter(emitterClient, { key }) : null;

// operator builds io.to(...).except(...) with flags from a command.
function operator(target, c) {
  let op = target;
  if (c.to && c.to.length) op = op.to(c.to);
  if (c.except && c.except.length) op = op.except(c.except);
  if (c.volatile) op = op.volatile;
  if (c.compress === false) op = op.compress(false);
  if (c.local) op = op.local;
  if (c.timeout) op = op.timeout(c.timeout);
  return op;
}

let barriers = 0;
async function barrier() {
  if (classic) return;
  const ch = `${key}#barrier#${barriers++}#`;
  await sub.ssubscribe(ch);
  await sub.sunsubscribe(ch);
}

async function handle(c) {
  switch (c.op) {
    case "connect": {
      const s = ioc(c.url, { transports: ["websocket"], reconnection: false, forceNew: true, auth: c.auth || {} });
      s.onAny((name, ...args) => out({ event: "recv", client: c.client, name, args: enc(args.filter((a) => typeof a !== "function")) }));
      s.on("ask", (arg, ack) => ack("answer-" + c.client));
      s.on("disconnect", (reason) => out({ event: "disconnected", client: c.client, reason }));
      clients.set(c.client, s);
      await new Promise((resolve, reject) => {
        s.once("connect", resolve);
        s.once("connect_error", reject);
      });
      return { sid: s.id };
    }
    case "join": {
      io.of("/").sockets.get(c.sid).join(c.rooms);
      await barrier();
      return {};
    }
    case "sync": {
      // Everything published before this point has been handled here once
      // a cluster-wide fetchSockets has been answered; then a command on
      // the subscriber connection returns after the adapter's own
      // SSUBSCRIBEs for new rooms.
      await io.fetchSockets();
      await barrier();
      return {};
    }
    case "emit":
      operator(io, c).emit(c.name, ...dec(c.args || []));
      return {};
    case "emitWithAck": {
      try {
        const replies = await operator(io, c).emitWithAck(c.name, ...dec(c.args || []));
        return { replies: enc(replies) };
      } catch (e) {
        return { error: String(e) };
      }
    }
    case "fetchSockets": {
      const socks = await operator(io, c).fetchSockets();
      return {
        sockets: socks.map((s) => ({ id: s.id, rooms: [...s.rooms], handshake: s.handshake, data: s.data })),
      };
    }
    case "remoteEmit": {
      const socks = await operator(io, c).fetchSockets();
      for (const s of socks) s.emit(c.name, ...dec(c.args || []));
      return { count: socks.length };
    }
    case "socketsJoin":
      operator(io, c).socketsJoin(c.rooms);
      return {};
    case "socketsLeave":
      operator(io, c).socketsLeave(c.rooms);
      return {};
    case "disconnectSockets":
      operator(io, c).disconnectSockets(!!c.close);
      return {};
    case "serverSideEmit":
      io.serverSideEmit(c.name, ...dec(c.args || []));
      return {};
    case "serverSideEmitWithAck": {
      try {
        const replies = await io.serverSideEmitWithAck(c.name, ...dec(c.args || []));
        return { replies: enc(replies) };
      } catch (e) {
        return { error: String(e) };
      }
    }
    case "allRooms":
      return { rooms: [...(await io.of("/").adapter.allRooms())] };
    case "serverCount":
      return { count: await io.of("/").adapter.serverCount() };
    case "emitter": {
      let e = emitter;
      if (c.nsp) e = e.of(c.nsp);
      let op = e;
      if (c.to && c.to.length) op = op.to(c.to);
      if (c.except && c.except.length) op = op.except(c.except);
      if (c.volatile) op = op.volatile;
      switch (c.action) {
        case "emit": op.emit(c.name, ...dec(c.args || [])); break;
        case "socketsJoin": op.socketsJoin(c.rooms); break;
        case "socketsLeave": op.socketsLeave(c.rooms); break;
        case "disconnectSockets": op.disconnectSockets(!!c.close); break;
        case "serverSideEmit": emitter.serverSideEmit(c.name, ...dec(c.args || [])); break;
      }
      return {};
    }
    case "quit":
      for (const s of clients.values()) s.disconnect();
      io.close();
      pub.disconnect(); sub.disconnect(); emitterClient.disconnect();
      setTimeout(() => process.exit(0), 50);
      return {};
    default:
      throw new Error("unknown op " + c.op);
  }
}

http.listen(0, "127.0.0.1", async () => {
  // Let the adapter's subscriptions land before the Go side counts servers.
  for (let i = 0; i < 100; i++) {
    try {
      if ((await io.of("/").adapter.serverCount()) >= 1) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 20));
  }
  out({ event: "ready", url: `http://127.0.0.1:${http.address().port}` });
});

createInterface({ input: process.stdin }).on("line", async (line) => {
  let c;
  try {
    c = JSON.parse(line);
  } catch {
    return;
  }
  try {
    out({ event: "reply", id: c.id, ...(await handle(c)) });
  } catch (e) {
    out({ event: "reply", id: c.id, error: String(e && e.stack || e) });
  }
});
process.stdin.on("end", () => process.exit(0));
