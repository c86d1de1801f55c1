// Captures the exact bytes the official Redis adapter (classic) and emitter
// publish for each operation, for the Go golden tests
// (adapter/redis/testdata/node_golden.json). Usage:
//   node js/capture.mjs <key> [redis-url] > golden.json
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { Emitter } from "@socket.io/redis-emitter";
import { Redis } from "ioredis";

const key = process.argv[2] || "golden";
const url = process.argv[3] || "redis://127.0.0.1:6379";
const pub = new Redis(url);
const sub = new Redis(url);
const spy = new Redis(url);
const captured = [];
let waiter = null;
spy.on("pmessageBuffer", (_pattern, channel, msg) => {
  captured.push({ channel: channel.toString(), hex: msg.toString("hex") });
  if (waiter) waiter();
});
await spy.psubscribe(`${key}*`);
// A second subscriber on the request channel makes NUMSUB 2, so that the
// adapter publishes its requests (and then times out waiting for answers).
await spy.subscribe(`${key}-request#/#`);

const io = new Server({ adapter: createAdapter(pub, sub, { key, requestsTimeout: 300 }) });
const adapter = io.of("/").adapter;
adapter.uid = "NODEID";
await new Promise((r) => setTimeout(r, 100)); // let the adapter's subscriptions land

const out = [];
async function step(name, fn) {
  const before = captured.length;
  const got = new Promise((resolve) => {
    waiter = () => { if (captured.length > before) resolve(); };
  });
  await fn();
  await Promise.race([got, new Promise((r) => setTimeout(r, 2000))]);
  waiter = null;
  const m = captured.slice(before);
  if (m.length === 0) throw new Error("nothing published for " + name);
  out.push({ name, channel: m[0].channel, hex: m[0].hex });
  captured.length = 0;
}

await step("adapter/emit", () => io.emit("hello", "world", 1));
await step("adapter/to-room", () => io.to("room1").emit("a", 1));
await step("adapter/rooms-except-flags", () =>
  io.to(["room1", "room2"]).except("room3").volatile.compress(false).emit("b", { x: 1.5, y: -200, z: null, s: "é" }));
await step("adapter/binary", () => io.emit("bin", Buffer.from([1, 2, 3]), { nested: Buffer.from([4]) }));
await step("adapter/fetch", () => io.in("room1").except("room3").fetchSockets().catch(() => {}));
await step("adapter/join", () => io.in("room1").socketsJoin(["roomA", "roomB"]));
await step("adapter/leave", () => io.except("room2").socketsLeave("roomB"));
await step("adapter/disconnect", () => io.in("room9").disconnectSockets(true));
await step("adapter/server-side-emit", () => io.serverSideEmit("ping", 42, { a: [1, 2] }));
await step("adapter/server-side-emit-ack", () => { io.serverSideEmit("ping", 7, () => {}); });
await step("adapter/broadcast-ack", () => { io.to("room1").timeout(1000).emit("ack", 1, () => {}); });

const emitter = new Emitter(pub, { key });
await step("emitter/emit", () => emitter.emit("hello", "world", 1));
await step("emitter/to-room", () => emitter.to("room1").emit("a", 1));
await step("emitter/rooms-except-flags", () =>
  emitter.to(["room1", "room2"]).except("room3").volatile.compress(false).emit("b", { x: 1.5 }));
await step("emitter/binary", () => emitter.emit("bin", Buffer.from([1, 2, 3])));
await step("emitter/nsp", () => emitter.of("chat").to("r").emit("c"));
await step("emitter/join", () => emitter.in("room1").socketsJoin("r2"));
await step("emitter/leave", () => emitter.except("room1").socketsLeave(["r2", "r3"]));
await step("emitter/disconnect", () => emitter.to("room1").disconnectSockets(true));
await step("emitter/server-side-emit", () => emitter.serverSideEmit("hello", { a: 1 }));

console.log(JSON.stringify(out, null, 1));
io.close();
pub.disconnect(); sub.disconnect(); spy.disconnect();
process.exit(0);
