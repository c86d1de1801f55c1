// Captures the exact bytes the official sharded Redis adapter (dynamic
// mode) publishes for each operation, and on which channel, for the Go
// golden tests (adapter/redis/testdata/node_sharded_golden.json). Usage:
//   node js/capture-sharded.mjs <prefix> [redis-url] > golden.json
import { Server } from "socket.io";
import { createShardedAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";

const key = process.argv[2] || "golden";
const url = process.argv[3] || "redis://127.0.0.1:6379";
const pub = new Redis(url);
const sub = new Redis(url);
const spy = new Redis(url);
const captured = [];
let waiter = null;
spy.on("smessageBuffer", (channel, msg) => {
  captured.push({ channel: channel.toString(), hex: msg.toString("hex") });
  if (waiter) waiter();
});
// Subscribing to the namespace channel also makes SHARDNUMSUB 2, so that
// requests are published.
const twenty = "abcdefghijklmnopqrst";
await spy.ssubscribe(`${key}#/#`);
await spy.ssubscribe(`${key}#/#room1#`);
await spy.ssubscribe(`${key}#/#${twenty}#`);

const io = new Server({ adapter: createShardedAdapter(pub, sub, { channelPrefix: key, subscriptionMode: "dynamic" }) });
const adapter = io.of("/").adapter;
adapter.uid = "0123456789abcdef";
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

await step("sharded/emit", () => io.emit("hello", "world", 1));
await step("sharded/to-room", () => io.to("room1").emit("a", 1));
await step("sharded/to-socket-like-room", () => io.to(twenty).emit("a", 2));
await step("sharded/rooms-except-flags", () =>
  io.to(["room1", "room2"]).except("room3").volatile.compress(false).emit("b", { x: 1.5 }));
await step("sharded/binary", () => io.emit("bin", Buffer.from([1, 2, 3])));
await step("sharded/fetch", () => io.in("room1").fetchSockets().catch(() => {}));
await step("sharded/join", () => io.in("room1").socketsJoin(["roomA"]));
await step("sharded/leave", () => io.except("room2").socketsLeave("roomB"));
await step("sharded/disconnect", () => io.in("room9").disconnectSockets(true));
await step("sharded/server-side-emit", () => io.serverSideEmit("ping", 42));
await step("sharded/server-side-emit-ack", () => { io.serverSideEmit("ping", 7, () => {}); });
await step("sharded/broadcast-ack", () => { io.to("room1").timeout(1000).emit("ack", 1, () => {}); });

console.log(JSON.stringify(out, null, 1));
io.close();
pub.disconnect(); sub.disconnect(); spy.disconnect();
process.exit(0);
