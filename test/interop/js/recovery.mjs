// socket.io-client 4.8 and connection state recovery: the transport is cut
// mid-stream, the client reconnects, and must receive every tick exactly
// once, in order, with socket.recovered true (or, after the server's window,
// a fresh session).
//
//   node js/recovery.mjs <url> <polling|websocket|upgrade> <recover|expire> <total>
import { io } from "socket.io-client";

const [url, mode, scenario, totalArg] = process.argv.slice(2);
const total = Number(totalArg);
const transports = { polling: ["polling"], websocket: ["websocket"], upgrade: ["polling", "websocket"] }[mode];
const out = (o) => console.log(JSON.stringify(o));
const deadline = setTimeout(() => { out({ event: "result", ok: false, error: "deadline", got: ticks.length }); process.exit(1); }, 20000);

const ticks = [];
const connects = [];
let cut = false;
const socket = io(url, {
  transports,
  reconnectionDelay: scenario === "expire" ? 600 : 50,
  reconnectionDelayMax: scenario === "expire" ? 600 : 50,
  randomizationFactor: 0,
});
socket.on("connect", () => {
  connects.push({ id: socket.id, recovered: socket.recovered });
  if (connects.length === 1) socket.emit("start", total);
});
socket.on("tick", (n) => {
  ticks.push(n);
  if (!cut && n === 20) {
    cut = true;
    // Cut the transport under the client once this payload is handled (a
    // network cut falls between packets, never inside a polling batch): it
    // sees "transport close" and reconnects.
    setTimeout(() => socket.io.engine.close(), 0);
  }
  if (scenario === "recover" && n === total - 1) finish();
});
socket.on("disconnect", (reason) => out({ event: "disconnect", reason }));
socket.on("connect", () => {
  if (scenario === "expire" && connects.length === 2) finish();
});

function finish() {
  clearTimeout(deadline);
  out({ event: "result", ok: true, connects, ticks });
  socket.disconnect();
}
