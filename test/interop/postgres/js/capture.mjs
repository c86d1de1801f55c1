// capture.mjs: runs a Node socket.io 4.8 server on the official PostgreSQL
// adapter, performs every operation once, and prints each NOTIFY payload it
// produced (attachments fetched and hex-encoded) as JSON lines. Used to make
// the golden files of adapter/cluster and adapter/postgres.
// Usage: node js/capture.mjs <postgres url> <channel prefix> <table>
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/postgres-adapter";
import pg from "pg";

const [url, prefix, table] = process.argv.slice(2);
const pool = new pg.Pool({ connectionString: url });
await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (id bigserial UNIQUE, created_at timestamptz DEFAULT NOW(), payload bytea)`);
const listener = new pg.Client({ connectionString: url });
await listener.connect();
const got = [];
listener.on("notification", (n) => got.push(n.payload));
await listener.query(`LISTEN "${prefix}#/"`);

const io = new Server({ adapter: createAdapter(pool, { channelPrefix: prefix, tableName: table, heartbeatInterval: 60000 }) });
const nsp = io.of("/");
const step = () => new Promise((r) => setTimeout(r, 150));
await step();
const ops = [
  ["emit", () => io.emit("hello", "world", 1)],
  ["to", () => io.to("room1").emit("hello", "world", 1)],
  ["toMany", () => io.to(["room1", "room2"]).except("room3").emit("hello", "world", 1)],
  ["volatile", () => io.volatile.compress(false).emit("hello", "world", 1)],
  ["binary", () => io.emit("bin", Buffer.from([1, 2, 3]), { a: Buffer.from([4]) })],
  ["big", () => io.emit("big", "x".repeat(9000))],
  ["join", () => io.in("room1").socketsJoin(["roomA", "roomB"])],
  ["leave", () => io.in("room1").socketsLeave("roomA")],
  ["disconnect", () => io.in("room1").disconnectSockets(true)],
  ["serverSideEmit", () => io.serverSideEmit("ping", 42)],
];
for (const [name, fn] of ops) {
  fn();
  await step();
}
// Requests that need a peer: a fake one announces itself first.
await pool.query("SELECT pg_notify($1, $2)", [`${prefix}#/`, JSON.stringify({ type: 2, uid: "fffffffffffffff0", nsp: "/" })]);
await step();
nsp.fetchSockets().catch(() => {});
await step();
io.timeout(1000).emit("ask", 1, () => {});
await step();
nsp.serverSideEmit("ask", 7, () => {});
await step();
io.of("/").adapter.close();
await step();
const out = [];
for (const p of got) {
  const m = JSON.parse(p);
  let att = null;
  if (m.attachmentId) {
    const r = await pool.query(`SELECT payload FROM ${table} WHERE id = $1`, [m.attachmentId]);
    att = r.rows[0].payload.toString("hex");
  }
  console.log(JSON.stringify({ payload: p, attachment: att }));
}
await listener.end();
await pool.query(`DROP TABLE ${table}`);
await pool.end();
process.exit(0);
