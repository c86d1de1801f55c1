// socket.io-client 4.8 (websocket transport) against the server-wide
// operations of the server under test: broadcasts with acknowledgements,
// FetchSockets, SocketsJoin/SocketsLeave, RemoteSocket.Emit and
// DisconnectSockets. The Go test (serverwide_test.go) drives the scenario;
// the clients answer and report. The last line is
// {"event":"result","ok":...}; exit code 1 on failure.
//
//   node js/serverwide.mjs <url> acks   50 sockets; 0-44 answer "poll" with
//                                       their index, 45-49 never answer
//   node js/serverwide.mjs <url> ops    clients a, b, c report every "vip-news",
//                                       "direct" and "marker" back as "got"
import { io } from "socket.io-client";

const [url, scenario] = process.argv.slice(2);
const out = (o) => console.log(JSON.stringify(o));
const sockets = [];
const deadline = setTimeout(() => {
  out({ event: "result", ok: false, error: "deadline" });
  process.exit(1);
}, 25000);
const fail = (error) => {
  out({ event: "result", ok: false, error });
  process.exit(1);
};
const open = (auth) => {
  const s = io(url, { transports: ["websocket"], forceNew: true, reconnection: false, auth });
  s.on("connect_error", (err) => fail(`connect_error: ${err.message}`));
  sockets.push(s);
  return s;
};
const finish = (extra) => {
  out({ event: "result", ok: true, ...extra });
  clearTimeout(deadline);
  for (const s of sockets) s.disconnect();
};

if (scenario === "acks") {
  const N = 50, ANSWER = 45;
  const polled = new Array(N).fill(0);
  let done = 0;
  for (let i = 0; i < N; i++) {
    const s = open({});
    s.on("poll", (ack) => {
      polled[i]++;
      if (typeof ack !== "function") fail(`socket ${i}: poll without ack`);
      if (i < ANSWER) ack(i);
    });
    s.on("done", () => {
      if (++done === N) finish({ polled });
    });
  }
} else if (scenario === "ops") {
  const clients = {};
  let pending = 3;
  const settle = () => {
    if (--pending === 0) finish({ clients });
  };
  for (const name of ["a", "b", "c"]) {
    const rec = (clients[name] = { got: [], reason: null, connectedAtDone: null });
    const s = open({ name });
    for (const ev of ["vip-news", "direct", "marker"]) {
      s.on(ev, (arg) => {
        rec.got.push([ev, arg]);
        out({ event: "got", name, ev, arg });
        s.emit("got", ev, arg);
      });
    }
    s.on("disconnect", (reason) => {
      if (rec.reason === null) rec.reason = reason;
      out({ event: "disconnect", name, reason });
      if (rec.connectedAtDone === null) settle(); // disconnected by the server
    });
    s.on("done", () => {
      rec.connectedAtDone = s.connected;
      settle();
    });
  }
} else {
  fail(`unknown scenario ${scenario}`);
}
