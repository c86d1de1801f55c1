// socket.io-client 4.8 with socket.io-msgpack-parser against a server using
// socketio.MsgpackParser: events with binary both ways and acks both ways.
//
//   node js/msgpack.mjs <url> <polling|websocket|upgrade>
import { io } from "socket.io-client";
import parser from "socket.io-msgpack-parser";

const [url, mode] = process.argv.slice(2);
const transports = { polling: ["polling"], websocket: ["websocket"], upgrade: ["polling", "websocket"] }[mode];
const out = (o) => console.log(JSON.stringify(o));
const deadline = setTimeout(() => { out({ event: "result", ok: false, error: "deadline" }); process.exit(1); }, 10000);

const socket = io(url, { transports, parser, auth: { token: "mp" }, reconnection: false });
socket.on("connect_error", (err) => { out({ event: "result", ok: false, error: err.message }); process.exit(1); });

// The server asks for an ack with binary inside; we answer with binary.
socket.on("question", (payload, ack) => {
  out({ event: "question", text: payload.text, blob: Buffer.from(payload.blob).toString("hex") });
  ack({ answer: Buffer.from([7, 8, 9]) });
});

socket.on("connect", async () => {
  const reply = await socket.timeout(5000).emitWithAck("echo", { n: 1.5, list: [1, "two", null], bin: Buffer.from([1, 2, 3]) }, -7);
  out({ event: "echo-ack", n: reply.n, list: reply.list, bin: Buffer.from(reply.bin).toString("hex"), neg: reply.neg });
  socket.once("done", (summary) => {
    out({ event: "result", ok: true, transport: socket.io.engine.transport.name, summary });
    clearTimeout(deadline);
    socket.disconnect();
  });
  socket.emit("go");
});
