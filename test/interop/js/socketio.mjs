// Drives the official Socket.IO clients against the server under test and
// reports what they observed, one JSON object per line on stdout. Each
// observation is {"event":"obs","key":...,"value":...}; the last line is
// {"event":"result","obs":{...all observations...}} and carries "error" when
// the scenario failed (exit code 1). Binary values are reported as
// {"$bin":"<hex>"}. The Go test (socketio_test.go) judges the observations
// together with what the server saw; this script only checks what it needs
// to know when to stop.
//
// Usage: node js/socketio.mjs <url> <scenario> <client> <mode>
//
//   url       http://127.0.0.1:PORT (the server is mounted at /socket.io/)
//   scenario  auth | refused | json | binary | acks | rooms | namespaces |
//             client-disconnect | server-disconnect | invalid-namespace
//   client    v4 (socket.io-client 4.8.x) | v3 (3.1.x) | v2 (2.5.x, Engine.IO 3) |
//             mixed (rooms only: one v4, one v3 and two v2 clients)
//   mode      polling | websocket | upgrade (polling first, then upgrade to websocket)
//
// The server side (socketio_test.go, sioApp) authorizes connections whose
// credentials carry the token "s3cr3t" (v3/v4: the auth option; v2: the
// query option) and answers the events used below.

const DEADLINE_MS = 20000; // the whole scenario
const STEP_MS = 8000; // one awaited event
const TOKEN = "s3cr3t";

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

// enc turns a received value into plain JSON: binary becomes {"$bin":hex},
// undefined becomes {"$undefined":true}, functions {"$function":true}.
function enc(v) {
  if (v === undefined) return { $undefined: true };
  if (typeof v === "function") return { $function: true };
  if (Buffer.isBuffer(v)) return { $bin: v.toString("hex") };
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString("hex") };
  if (ArrayBuffer.isView(v)) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex") };
  if (v instanceof Error) return { message: v.message, data: enc(v.data) };
  if (Array.isArray(v)) return v.map(enc);
  if (v !== null && typeof v === "object") {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = enc(x);
    return o;
  }
  return v;
}

const obs = {};

function see(key, value) {
  obs[key] = enc(value);
  out({ event: "obs", key, value: obs[key] });
}

// Waiting: every client event calls notify, which re-checks the pending
// conditions.
const waiters = new Set();

function notify() {
  for (const w of [...waiters]) w();
}

function until(what, cond, ms = STEP_MS) {
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
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const done = () => {
      clearTimeout(timer);
      waiters.delete(check);
    };
    waiters.add(check);
    check();
  });
}

const libs = {};

async function loadLib(version) {
  if (libs[version]) return libs[version];
  let io;
  switch (version) {
    case "v4":
      io = (await import("socket.io-client")).io;
      break;
    case "v3":
      io = (await import("sio-client-v3")).default;
      break;
    case "v2":
      io = (await import("sio-client-v2")).default;
      break;
    default:
      throw new Error("unknown client " + version);
  }
  libs[version] = io;
  return io;
}

// credentials: v3/v4 send them as the CONNECT packet's auth payload, with
// extra fields the server reports back; v2 sends them in the query string.
function credentials(version, user, token = TOKEN) {
  if (version === "v2") return { query: { token, user, lang: "zoë 😀" } };
  return { auth: { token, user, extra: { emoji: "😀", list: [1, "二"] } } };
}

// Sock is one client socket (one namespace) and what it saw.
class Sock {
  constructor(io, version, mode, url, nsp, user, { token = TOKEN, forceNew = false } = {}) {
    const opts = { reconnection: false, ...credentials(version, user, token) };
    if (forceNew) opts.forceNew = true;
    if (mode === "polling") opts.transports = ["polling"];
    else if (mode === "websocket") opts.transports = ["websocket"];
    else if (mode !== "upgrade") throw new Error("unknown mode " + mode);
    this.version = version;
    this.mode = mode;
    this.nsp = nsp;
    this.socket = io(nsp === "/" ? url : url + nsp, opts);
    this.connected = false;
    this.connectError = null; // v3/v4
    this.errors = []; // v2 'error' events
    this.disconnects = [];
    this.inbox = []; // {event, args}
    this.engine = null; // the Engine.IO socket being watched
    this.engineClosed = false;
    this.upgraded = false;

    const s = this.socket;
    s.on("connect", () => {
      this.connected = true;
      notify();
    });
    s.on("disconnect", (reason) => {
      this.connected = false;
      this.disconnects.push(reason);
      out({ event: "disconnect", nsp, user, reason });
      notify();
    });
    if (version === "v2") {
      s.on("error", (data) => {
        this.errors.push(data);
        out({ event: "error", nsp, user, data: enc(data) });
        notify();
      });
    } else {
      s.on("connect_error", (err) => {
        this.connectError = err;
        out({ event: "connect_error", nsp, user, message: err.message, data: enc(err.data) });
        notify();
      });
    }
    // The Manager opens an engine (a new one after a refused connection:
    // v3/v4 close it); watch the current one for the upgrade and the close.
    const mgr = s.io;
    const watch = () => {
      const e = mgr.engine;
      if (!e || e === this.engine) return;
      this.engine = e;
      this.engineClosed = false;
      e.on("upgrade", () => {
        this.upgraded = true;
        notify();
      });
      e.on("close", (reason) => {
        this.engineClosed = true;
        out({ event: "engine-close", nsp, user, reason });
        notify();
      });
      notify();
    };
    mgr.on("open", watch);
    watch();
  }

  // on records every arrival of event in the inbox.
  on(event) {
    this.socket.on(event, (...args) => {
      this.inbox.push({ event, args });
      notify();
    });
  }

  // answer replies to event through its acknowledgement with fn(args).
  answer(event, fn) {
    this.socket.on(event, (...args) => {
      const cb = args.pop();
      this.inbox.push({ event, args });
      if (typeof cb !== "function") throw new Error(`${event} came without an ack callback`);
      cb(...fn(args));
      notify();
    });
  }

  received(event) {
    return this.inbox.filter((m) => m.event === event).map((m) => m.args);
  }

  emit(event, ...args) {
    this.socket.emit(event, ...args);
  }

  // emitAck emits with an acknowledgement callback and resolves with the
  // arguments of the acknowledgement.
  emitAck(event, ...args) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ack for ${event} within ${STEP_MS} ms`)), STEP_MS);
      this.socket.emit(event, ...args, (...reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
    });
  }

  transport() {
    const e = this.socket.io.engine;
    return e && e.transport ? e.transport.name : null;
  }

  connectedEvent() {
    return until(`connect of ${this.nsp}`, () => this.connected);
  }

  disconnected(n = 1) {
    return until(`disconnect of ${this.nsp}`, () => this.disconnects.length >= n);
  }

  // settle waits for the transport the connection ends on: WebSocket after
  // the upgrade in upgrade mode.
  settle() {
    if (this.mode !== "upgrade") return Promise.resolve();
    return until("upgrade", () => this.transport() === "websocket");
  }

  // close closes the whole connection from the client (the Engine.IO
  // socket under every namespace) and waits for it to be closed.
  async close() {
    const e = this.socket.io.engine;
    if (e && !this.engineClosed) e.close();
    await until("engine close", () => this.engineClosed);
  }
}

// Values used in both directions. The Go test has the same literals.
function jsonDoc() {
  return {
    text: 'zoë 😀 日本語 € \u2028 </script> "quoted" back\\slash\nnew\ttab',
    nul: "a\u0000b",
    n: { int: 42, neg: -7, float: 1.5, big: 9007199254740991, exp: 1e-7 },
    flags: [true, false, null],
    nested: { list: [[1, [2, [3, { deep: "ünïcödé" }]]]], empty: {}, none: [] },
    emoji: { "key 😀": "value 𝄞" },
  };
}

function binPayload() {
  const ab = new ArrayBuffer(4);
  new Uint8Array(ab).set([9, 8, 7, 6]);
  return {
    name: "photo 😀.png",
    data: Buffer.from([0, 1, 2, 0x1e, 0x3a, 253, 254, 255]),
    parts: [ab, Buffer.alloc(0), Buffer.from("€ text", "utf8")],
    meta: { thumb: new Uint8Array([0x34, 0x35, 0x2d]), nested: [{ deep: Buffer.from("deep") }, { deep: null }] },
  };
}

// Rooms: who joins what, and the broadcasts the server is asked to make,
// each followed by a "marker" to every socket of the namespace.
const ROOMS = { a: ["red"], b: ["red", "blue"], c: ["blue"], d: [] };
const ROOM_OPS = [
  { by: "a", op: "io.to", rooms: ["red"], tag: "t1" }, // a b
  { by: "a", op: "s.to", rooms: ["red"], tag: "t2" }, // b (the sender is left out)
  { by: "b", op: "io.except", rooms: ["red"], tag: "t3" }, // c d
  { by: "d", op: "io.to", rooms: ["red", "blue"], tag: "t4" }, // a b c, b once
  { by: "c", op: "s.to", rooms: ["red", "blue"], tag: "t5" }, // a b
  { by: "a", op: "io.to.except", rooms: ["red"], except: ["blue"], tag: "t6" }, // a
  { by: "b", op: "s.broadcast", tag: "t7" }, // a c d
  { by: "b", op: "s.except", rooms: ["red"], tag: "t8" }, // c d
];

// burst emits BURST "count" events, without waiting, right before the
// client leaves: the client writes them before its DISCONNECT or close, so
// the server must handle every one (Node handles each packet as it arrives).
const BURST = 50;

function burst(s) {
  for (let i = 0; i < BURST; i++) s.emit("count", i);
}

const scenarios = {
  // auth: connect with credentials, ask who we are once on the final
  // transport, then send a burst of events and close the whole connection.
  async auth(h) {
    const s = await h.sock("/", "alice");
    await s.connectedEvent();
    see("id", s.socket.id);
    await s.settle();
    see("whoami", await s.emitAck("whoami", { transport: true }));
    see("transport", s.transport());
    burst(s);
    await s.close();
    await s.disconnected();
    see("disconnects", s.disconnects);
  },

  // refused: wrong credentials; v3/v4 then retry with the right ones.
  async refused(h) {
    const s = await h.sock("/", "mallory", { token: "wrong" });
    if (h.client === "v2") {
      await until("error event", () => s.errors.length > 0);
      see("errors", s.errors);
      see("connected", s.connected);
      await s.close();
      return;
    }
    await until("connect_error", () => s.connectError);
    see("connect_error", { message: s.connectError.message, data: s.connectError.data });
    see("connected", s.connected);
    s.socket.auth = credentials(h.client, "mallory").auth;
    s.socket.connect();
    await s.connectedEvent();
    await s.settle();
    see("whoami", await s.emitAck("whoami", { transport: true }));
    await s.close();
  },

  // json: the same event twice (before and after the upgrade in upgrade
  // mode); the server answers each with "json-reply".
  async json(h) {
    const s = await h.sock("/", "jo");
    s.on("json-reply");
    await s.connectedEvent();
    s.emit("json", jsonDoc(), "two", 3, null, [1, "x"]);
    await until("first json-reply", () => s.received("json-reply").length >= 1);
    await s.settle();
    s.emit("json", jsonDoc(), "two", 3, null, [1, "x"]);
    await until("second json-reply", () => s.received("json-reply").length >= 2);
    see("json-reply", s.received("json-reply"));
    await s.close();
  },

  // binary: like json, with binary nested in objects and arrays; the server
  // answers with "binary-reply" (its own values) and "binary-echo" (our
  // arguments sent back as it received them).
  async binary(h) {
    const s = await h.sock("/", "bea");
    s.on("binary-reply");
    s.on("binary-echo");
    await s.connectedEvent();
    const top = Buffer.from([0xca, 0xfe]);
    s.emit("binary", binPayload(), top, "after");
    await until("first binary-echo", () => s.received("binary-echo").length >= 1);
    await s.settle();
    s.emit("binary", binPayload(), top, "after");
    await until("second binary-echo", () => s.received("binary-echo").length >= 2);
    see("sent", [binPayload(), top, "after"]);
    see("binary-reply", s.received("binary-reply"));
    see("binary-echo", s.received("binary-echo"));
    await s.close();
  },

  // acks: both directions, with binary, and the timeouts.
  async acks(h) {
    const s = await h.sock("/", "ack");
    s.answer("question", (args) => ["a1", { echo: args }]);
    s.answer("question-bin", (args) => ["bin", Buffer.from(args[0]).reverse()]);
    s.on("ignore-me"); // never acknowledged
    await s.connectedEvent();
    see("sum", await s.emitAck("sum", [1, 2, 3.5]));
    see("binary-ack", await s.emitAck("binary-ack", Buffer.from([5, 6, 7]), { k: "v" }));
    // The server asks its questions, waits out a timeout, then acks "ask".
    see("ask", await s.emitAck("ask"));
    see("questions", {
      question: s.received("question"),
      "question-bin": s.received("question-bin"),
      "ignore-me": s.received("ignore-me"),
    });
    if (h.client === "v4") {
      // The server never acknowledges "never-ack".
      see(
        "timeout-cb",
        await new Promise((resolve) => {
          s.socket.timeout(300).emit("never-ack", "x", (err, ...rest) => resolve({ err, rest }));
        }),
      );
      see(
        "timeout-ok-cb",
        await new Promise((resolve) => {
          s.socket.timeout(5000).emit("sum", [40, 2], (err, ...rest) => resolve({ err, rest }));
        }),
      );
      see("emitWithAck", await s.socket.emitWithAck("sum", [2, 2]));
      try {
        see("timeout-promise", { resolved: await s.socket.timeout(300).emitWithAck("never-ack", "y") });
      } catch (err) {
        see("timeout-promise", { rejected: err });
      }
    }
    await s.settle();
    see("sum-final", await s.emitAck("sum", [1]));
    await s.close();
  },

  // rooms: four clients, each on its own connection.
  async rooms(h) {
    const versions =
      h.client === "mixed" ? { a: "v4", b: "v3", c: "v2", d: "v2" } : { a: h.client, b: h.client, c: h.client, d: h.client };
    const socks = {};
    for (const name of Object.keys(ROOMS)) {
      socks[name] = await h.sock("/", name, { forceNew: true, version: versions[name] });
      socks[name].on("news");
      socks[name].on("marker");
    }
    const all = Object.values(socks);
    await Promise.all(all.map((s) => s.connectedEvent()));
    const joined = {};
    for (const [name, rooms] of Object.entries(ROOMS)) joined[name] = await socks[name].emitAck("join", rooms);
    see("joined", joined);
    for (const op of ROOM_OPS) {
      see(`cmd ${op.tag}`, await socks[op.by].emitAck("cmd", op));
      await until(`marker ${op.tag} everywhere`, () =>
        all.every((s) => s.received("marker").some((args) => args[0] === op.tag)),
      );
    }
    const news = {};
    for (const [name, s] of Object.entries(socks)) news[name] = s.received("news");
    see("news", news);
    await Promise.all(all.map((s) => s.settle()));
    see(
      "transports",
      Object.fromEntries(Object.entries(socks).map(([n, s]) => [n, s.transport()])),
    );
    await Promise.all(all.map((s) => s.close()));
  },

  // namespaces: "/" and "/admin" on one connection (one Manager).
  async namespaces(h) {
    const root = await h.sock("/", "nina");
    const admin = await h.sock("/admin", "nina");
    see("shared", root.socket.io === admin.socket.io);
    for (const s of [root, admin]) {
      s.on("news");
      s.on("marker");
    }
    await Promise.all([root.connectedEvent(), admin.connectedEvent()]);
    see("ids", { root: root.socket.id, admin: admin.socket.id, engine: root.socket.io.engine.id });
    see("whoami", { root: await root.emitAck("whoami"), admin: await admin.emitAck("whoami") });
    see("sum", { root: await root.emitAck("sum", [1, 1]), admin: await admin.emitAck("sum", [2, 2]) });
    await root.emitAck("cmd", { op: "nsp.emit", tag: "r1" });
    await until("marker r1", () => root.received("marker").length >= 1);
    await admin.emitAck("cmd", { op: "nsp.emit", tag: "a1" });
    await until("marker a1", () => admin.received("marker").length >= 1);
    see("news", { root: root.received("news"), admin: admin.received("news") });
    see("markers", { root: root.received("marker"), admin: admin.received("marker") });
    await root.settle();
    // Leave /admin only; "/" goes on.
    admin.socket.disconnect();
    see("admin-disconnects", admin.disconnects);
    see("after", await root.emitAck("whoami"));
    root.socket.disconnect();
    see("root-disconnects", root.disconnects);
    await root.close();
  },

  // client-disconnect: a burst of events, then socket.disconnect() on the
  // only namespace (v3/v4 then close the connection, having no namespace
  // left).
  async "client-disconnect"(h) {
    const s = await h.sock("/", "carl");
    await s.connectedEvent();
    await s.settle();
    see("whoami", await s.emitAck("whoami", { transport: true }));
    burst(s);
    s.socket.disconnect();
    see("disconnects", s.disconnects);
    await s.close();
  },

  // server-disconnect: the server disconnects k1 from the namespace and
  // closes k2's whole connection.
  async "server-disconnect"(h) {
    const k1 = await h.sock("/", "k1", { forceNew: true });
    const k2 = await h.sock("/", "k2", { forceNew: true });
    await Promise.all([k1.connectedEvent(), k2.connectedEvent()]);
    await Promise.all([k1.settle(), k2.settle()]);
    k1.emit("kick", { close: false });
    await k1.disconnected();
    see("k1", k1.disconnects);
    k2.emit("kick", { close: true });
    await k2.disconnected();
    see("k2", k2.disconnects);
    await until("k2 engine close", () => k2.engineClosed);
    await k1.close();
  },

  // invalid-namespace: a namespace the server does not have.
  async "invalid-namespace"(h) {
    const s = await h.sock("/nope", "ivan");
    if (h.client === "v2") {
      await until("error event", () => s.errors.length > 0);
      see("errors", s.errors);
    } else {
      await until("connect_error", () => s.connectError);
      see("connect_error", { message: s.connectError.message, data: s.connectError.data });
    }
    see("connected", s.connected);
    await s.close();
  },
};

async function main() {
  const [url, scenario, client, mode] = process.argv.slice(2);
  const run = scenarios[scenario];
  if (!url || !run || !client || !mode) {
    throw new Error("usage: socketio.mjs <url> <scenario> <client v4|v3|v2|mixed> <mode polling|websocket|upgrade>");
  }
  const socks = [];
  const h = {
    client,
    async sock(nsp, user, opts = {}) {
      const version = opts.version || client;
      const s = new Sock(await loadLib(version), version, mode, url, nsp, user, opts);
      socks.push(s);
      return s;
    },
  };
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`scenario deadline of ${DEADLINE_MS} ms passed`)), DEADLINE_MS);
  });
  try {
    await Promise.race([run(h), deadline]);
    out({ event: "result", obs });
  } catch (err) {
    out({ event: "result", obs, error: String(err && err.stack ? err.stack : err) });
    process.exitCode = 1;
    for (const s of socks) {
      const e = s.socket.io.engine;
      if (e) e.close();
    }
  } finally {
    clearTimeout(timer);
  }
  // Exit on our own once pending I/O is done; this unref'd timer only ends
  // a process that something keeps alive.
  setTimeout(() => process.exit(), 3000).unref();
}

main().catch((err) => {
  out({ event: "result", error: String(err) });
  process.exit(2);
});

