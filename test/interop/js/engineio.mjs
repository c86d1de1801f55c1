// Drives an official Engine.IO client against the server under test and
// reports what it observed, one JSON object per line on stdout. The last line
// is {"event":"result",...}; the exit code is 0 when the scenario ran to its
// end and 1 when it failed (the result's "error" says why). The Go test
// (engineio_test.go) judges the observations; this script only checks what it
// needs to know when to stop.
//
// Usage: node js/engineio.mjs <url> <scenario> <client> <mode>
//
//   url       http://127.0.0.1:PORT (the server is mounted at /engine.io/)
//   scenario  text | binary | binary-base64 | big | ping-timeout | upgrade | server-close
//   client    v4 (engine.io-client 6.6.x, protocol 4) | v3 (engine.io-client 3.5.x, protocol 3)
//   mode      polling | websocket | upgrade (polling first, then upgrade to websocket)
//
// The server side of the protocol: every message is echoed, except the text
// "transport?" (answered with the session's transport) and "close-me"
// (answered with "bye", then the server closes the session).

import { createHash } from "node:crypto";
import { Socket as SocketV4 } from "engine.io-client";
import SocketV3 from "eio-client-v3";

const DEADLINE_MS = 15000; // the whole scenario
const STEP_MS = 10000; // one awaited event

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

// bytesOf returns the bytes of an outgoing or incoming message, and whether
// it is binary.
function bytesOf(data) {
  // Both clients' parsers turn the empty message "4" into a message event
  // without data, whoever sends it (Node's server sends the same "4").
  if (data === undefined) data = "";
  if (typeof data === "string") return { binary: false, bytes: Buffer.from(data, "utf8") };
  if (Buffer.isBuffer(data)) return { binary: true, bytes: data };
  if (data instanceof ArrayBuffer) return { binary: true, bytes: Buffer.from(data) };
  if (ArrayBuffer.isView(data)) {
    return { binary: true, bytes: Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
  }
  throw new Error("unexpected message type " + Object.prototype.toString.call(data));
}

// digest is how messages are reported: kind, byte length, SHA-256, and the
// text itself when short.
function digest(data) {
  const { binary, bytes } = bytesOf(data);
  const d = { binary, len: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
  if (!binary && bytes.length <= 64) d.text = bytes.toString("utf8");
  return d;
}

// describe turns a close description (an Error, a CloseEvent wrapper, a
// status code) into plain JSON.
function describe(desc) {
  if (desc == null) return null;
  if (typeof desc !== "object") return { message: String(desc) };
  const d = {};
  if (desc.message) d.message = String(desc.message);
  if (typeof desc.description === "number") d.status = desc.description;
  else if (typeof desc.description === "string") d.description = desc.description;
  const ctx = desc.context;
  if (ctx && typeof ctx.code === "number") d.code = ctx.code;
  return d;
}

class Client {
  constructor(client, mode, url, extra) {
    const opts = { ...extra };
    if (mode === "polling") opts.transports = ["polling"];
    else if (mode === "websocket") opts.transports = ["websocket"];
    else if (mode !== "upgrade") throw new Error("unknown mode " + mode);
    if (client === "v4") this.socket = new SocketV4(url, opts);
    else if (client === "v3") this.socket = new SocketV3(url, opts);
    else throw new Error("unknown client " + client);
    this.client = client;
    this.mode = mode;
    this.sid = null;
    this.supportsBinary = null;
    this.pongsDropped = 0; // ping-timeout, protocol 4
    this.opened = false;
    this.upgraded = false;
    this.transports = [];
    this.sent = [];
    this.received = [];
    this.closed = null;
    this.wsClose = null;
    this.waiters = new Set();

    const s = this.socket;
    s.on("open", () => {
      this.opened = true;
      this.sid = s.id;
      this.supportsBinary = Boolean(s.transport.supportsBinary);
      this.transports.push(s.transport.name);
      this.watchWebSocket(s.transport);
      out({
        event: "open",
        sid: s.id,
        transport: s.transport.name,
        supportsBinary: this.supportsBinary, // false: binary travels as base64 text
      });
      this.notify();
    });
    s.on("upgrade", (t) => {
      this.upgraded = true;
      this.transports.push(t.name);
      this.watchWebSocket(t);
      out({ event: "upgrade", transport: t.name });
      this.notify();
    });
    s.on("upgradeError", (err) => out({ event: "upgradeError", error: String(err) }));
    s.on("error", (err) => out({ event: "error", error: String(err), detail: describe(err) }));
    s.on("message", (data) => {
      const d = digest(data);
      this.received.push(d);
      out({ event: "message", ...d });
      this.notify();
    });
    s.on("close", (reason, desc) => {
      this.closed = { reason, description: describe(desc) };
      out({ event: "close", ...this.closed });
      this.notify();
    });
  }

  // watchWebSocket records the close status of the underlying `ws` socket,
  // which neither client passes on in its close event.
  watchWebSocket(transport) {
    if (transport.name !== "websocket" || !transport.ws || typeof transport.ws.on !== "function") return;
    transport.ws.on("error", (err) => out({ event: "ws-error", error: String(err), code: err.code }));
    transport.ws.on("close", (code, reason) => {
      this.wsClose = { code, reason: String(reason) };
      out({ event: "ws-close", ...this.wsClose });
      this.notify();
    });
  }

  notify() {
    for (const w of this.waiters) w();
  }

  // until resolves once cond() holds, and rejects after ms or when the
  // socket closes first (unless closing is what is awaited).
  until(what, cond, ms = STEP_MS, { closeOK = false } = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        let v;
        try {
          v = cond();
        } catch (err) {
          done();
          reject(err);
          return;
        }
        if (v) {
          done();
          resolve(v);
        } else if (this.closed && !closeOK) {
          done();
          reject(new Error(`closed (${this.closed.reason}) while waiting for ${what}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  open() {
    return this.until("open", () => this.opened);
  }

  // ready waits for the transport the scenario's main step runs on: after
  // the upgrade in upgrade mode, after the handshake otherwise.
  async ready() {
    await this.open();
    if (this.mode === "upgrade") await this.until("upgrade", () => this.upgraded);
  }

  send(data) {
    this.sent.push(digest(data));
    this.socket.send(data);
  }

  receivedAtLeast(n, what) {
    return this.until(what || `${n} messages`, () => this.received.length >= n);
  }

  closedEvent(ms = STEP_MS) {
    return this.until("close", () => this.closed, ms, { closeOK: true });
  }

  // closeAndWait closes from the client side and waits for the close event.
  async closeAndWait() {
    this.socket.close();
    await this.closedEvent();
  }

  result(extra) {
    return {
      event: "result",
      client: this.client,
      mode: this.mode,
      sid: this.sid,
      supportsBinary: this.supportsBinary,
      transports: this.transports,
      finalTransport: this.socket.transport ? this.socket.transport.name : null,
      sent: this.sent,
      received: this.received,
      close: this.closed,
      wsClose: this.wsClose,
      pongsDropped: this.pongsDropped,
      ...extra,
    };
  }
}

// Messages chosen to trip length prefixes (protocol 3 counts UTF-16 code
// units: an emoji is 2, U+1D11E is 2, "€" is 1) and naive payload parsers.
const TEXTS = [
  "hello",
  "",
  "héllo wörld",
  "€ costs 1:2",
  "日本語のテキスト",
  "😀",
  "mix 😀 € é 𝄞 end",
  "line\nbreak\ttab",
  "12:4fake record",
  "\u0000nul",
];

function binaries() {
  const ab = new ArrayBuffer(256);
  new Uint8Array(ab).forEach((_, i, a) => (a[i] = i));
  const big = Buffer.alloc(70000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
  return [
    ab, // ArrayBuffer
    "text between binaries 😀",
    Buffer.from([1, 2, 3, 4]), // Buffer
    Buffer.alloc(0), // empty binary message
    new Uint8Array([0xff, 0x00, 0x1e, 0x3a]), // bytes equal to separators
    big,
    "after €",
  ];
}

// textOfBytes returns an ASCII-and-non-ASCII string of exactly n UTF-8 bytes.
function textOfBytes(n) {
  const tail = "é😀€"; // 2 + 4 + 3 bytes
  return "x".repeat(n - Buffer.byteLength(tail)) + tail;
}

// echo sends items and waits for all of them to come back. In upgrade mode
// the first half goes out as soon as the session opens (over polling, or
// buffered while the upgrade runs) and the rest after the upgrade.
async function echo(c, items) {
  await c.open();
  const half = c.mode === "upgrade" ? Math.ceil(items.length / 2) : items.length;
  items.slice(0, half).forEach((m) => c.send(m));
  await c.ready();
  items.slice(half).forEach((m) => c.send(m));
  await c.receivedAtLeast(items.length, `${items.length} echoes`);
  await c.closeAndWait();
  return c.result();
}

// silence stops the client's side of the heartbeat without closing
// anything, and stops the client from timing out on its own so that only
// the server can end the session.
function silence(c) {
  const s = c.socket;
  if (c.client === "v4") {
    // Protocol 4: the server pings, the client answers with a pong through
    // Socket#_sendPacket. Drop the pongs.
    if (typeof s._sendPacket !== "function" || typeof s._resetPingTimeout !== "function") {
      throw new Error("engine.io-client internals changed: no _sendPacket/_resetPingTimeout");
    }
    const send = s._sendPacket;
    s._sendPacket = function (type, ...rest) {
      if (type === "pong") {
        c.pongsDropped++;
        out({ event: "pong-dropped" });
        return;
      }
      return send.call(this, type, ...rest);
    };
    s.clearTimeoutFn(s._pingTimeoutTimer);
    s._resetPingTimeout = () => {};
  } else {
    // Protocol 3: the client pings on a timer (setPing) and closes itself
    // when no pong or other packet comes (onHeartbeat). Stop both.
    if (typeof s.setPing !== "function" || typeof s.onHeartbeat !== "function") {
      throw new Error("engine.io-client 3 internals changed: no setPing/onHeartbeat");
    }
    clearTimeout(s.pingIntervalTimer);
    clearTimeout(s.pingTimeoutTimer);
    s.removeListener("heartbeat", s.onHeartbeat);
    s.setPing = () => {};
    s.onHeartbeat = () => {};
  }
  out({ event: "silenced" });
}

const scenarios = {
  text: (c) => echo(c, TEXTS),
  binary: (c) => echo(c, binaries()),
  "binary-base64": (c) => echo(c, binaries()),

  // big sends a 900 KB message, which must come back, then a 1.1 MB one,
  // over the server's 1 MB limit, which must end the connection.
  async big(c) {
    await c.ready();
    c.send(textOfBytes(900_000));
    await c.receivedAtLeast(1, "the 900 KB echo");
    c.send("x".repeat(1_100_000));
    await c.closedEvent();
    await new Promise((r) => setImmediate(r)); // let the ws close listener run
    return c.result();
  },

  // ping-timeout stops answering the heartbeat once the session runs on
  // its final transport and waits for the server to give up.
  async "ping-timeout"(c) {
    await c.ready();
    silence(c);
    const t0 = Date.now();
    await c.closedEvent();
    return c.result({ silentMs: Date.now() - t0 });
  },

  // upgrade asks the server which transport it sees at the end.
  async upgrade(c) {
    await c.ready();
    c.send("transport?");
    await c.receivedAtLeast(1, "the server's transport");
    const serverTransport = c.received[0].text;
    const finalTransport = c.socket.transport.name;
    await c.closeAndWait();
    return c.result({ serverTransport, finalTransport });
  },

  // server-close asks the server to say goodbye and close the session.
  async "server-close"(c) {
    await c.ready();
    c.send("close-me");
    await c.closedEvent();
    return c.result();
  },
};

async function main() {
  const [url, scenario, client, mode] = process.argv.slice(2);
  const run = scenarios[scenario];
  if (!url || !run || !client || !mode) {
    throw new Error("usage: engineio.mjs <url> <scenario> <client v4|v3> <mode polling|websocket|upgrade>");
  }
  const extra = scenario === "binary-base64" ? { forceBase64: true } : {};
  const c = new Client(client, mode, url, extra);
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`scenario deadline of ${DEADLINE_MS} ms passed`)), DEADLINE_MS);
  });
  try {
    out(await Promise.race([run(c), deadline]));
  } catch (err) {
    out(c.result({ error: String(err) }));
    process.exitCode = 1;
    c.socket.close();
  } finally {
    clearTimeout(timer);
  }
  // Exit on our own once pending I/O (the close request) is done; this
  // unref'd timer only ends a process that something keeps alive.
  setTimeout(() => process.exit(), 3000).unref();
}

main().catch((err) => {
  out({ event: "result", error: String(err) });
  process.exit(2);
});
