'use strict';
// Integration-test harness: runs the real moonbase binary against a real PostgreSQL.
//
// tools/test.sh provides the environment:
//   MOONBASE_BIN                 server binary (default: build/moonbase)
//   MOONBASE_TEST_DATABASE_URL   superuser URL of a throwaway cluster (CREATE DATABASE allowed)
//   MOONBASE_TEST_PG_DIR         that cluster's folder, for pgStop()/pgStart() (tools/pg.sh)
//   MOONBASE_TEST_LOG_DIR        where each server's log is written (optional)
//   MOONBASE_TEST_PID_FILE       server pids are appended here so test.sh can reap leftovers
//   MOONBASE_TEST_VERBOSE=1      copy server logs to this process's stderr as they arrive
//
// Every wait has a timeout, so a broken server fails a test instead of hanging it. Servers are
// stopped when the test file ends even if a test forgot to; a sanitizer report
// (AddressSanitizer, LeakSanitizer, UBSan "file:line:col: runtime error:") in a server's output
// fails the stop() call, or the file when the server is stopped automatically.
//
// Usage (CommonJS; from ESM: import harness from './harness.js'):
//   const { startServer, authed } = require('./harness');
//   const server = await startServer();
//   after(() => server.stop());
//   const { ws, player_id } = await authed(server);
//   const reply = await ws.request('match.create', { mode: 'duel' });
//
// See docs/DEVELOPING.md for the whole API.

const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const DEFAULT_TIMEOUT_MS = Number(process.env.MOONBASE_TEST_WAIT_MS || 5000);
const START_TIMEOUT_MS = Number(process.env.MOONBASE_TEST_START_TIMEOUT_MS || 30000);

let WebSocket;
function wsLib() {
  if (!WebSocket) {
    try {
      WebSocket = require('ws');
    } catch (e) {
      throw new Error("npm package 'ws' is missing: run tools/install-deps.sh (npm ci) at the repo root");
    }
  }
  return WebSocket;
}

// ---------------------------------------------------------------------------------------------
// small helpers

/** Rejects with Error(`${what} timed out after ${ms} ms`) unless `promise` settles first. */
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/* Poll fn every `every` ms until it returns something truthy (returned), or fail the test
 * with "<what>: not within <ms> ms". */
async function waitFor(what, fn, ms = 5000, every = 100) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(every);
  }
}

/** A free TCP port on 127.0.0.1 (the kernel picks it; a race with other processes is retried by startServer). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const SANITIZER_PATTERNS = [
  /ERROR: AddressSanitizer/,
  /ERROR: LeakSanitizer/,
  /:\d+:\d+: runtime error: /, // UBSan: file.c:12:5: runtime error: ...
  /<unknown>: runtime error: /,
  /SUMMARY: UndefinedBehaviorSanitizer/,
];

/** The sanitizer report inside `text` (from its first line), or null. */
function sanitizerReport(text) {
  let first = -1;
  for (const re of SANITIZER_PATTERNS) {
    const m = re.exec(text);
    if (m && (first < 0 || m.index < first)) first = m.index;
  }
  if (first < 0) return null;
  const start = text.lastIndexOf('\n', first) + 1;
  return text.slice(start, start + 8000);
}

function tail(text, lines = 40) {
  return text.split('\n').slice(-lines).join('\n');
}

function execFileP(file, args, opts = {}) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 60000, ...opts }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n${stderr}`;
        reject(err);
      } else resolve({ stdout, stderr });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

function adminUrl() {
  const url = process.env.MOONBASE_TEST_DATABASE_URL;
  if (!url) {
    throw new Error(
      'MOONBASE_TEST_DATABASE_URL is not set. Run the suites through tools/test.sh ' +
        '(make test-integration), or start a cluster yourself: tools/pg.sh start /tmp/mbpg 55432 && ' +
        'export MOONBASE_TEST_DATABASE_URL=$(tools/pg.sh url /tmp/mbpg postgres) MOONBASE_TEST_PG_DIR=/tmp/mbpg'
    );
  }
  return url;
}

let psqlPath;
function psql() {
  if (psqlPath) return psqlPath;
  if (process.env.PSQL) return (psqlPath = process.env.PSQL);
  const base = '/usr/lib/postgresql';
  let found;
  try {
    const versions = fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, 'bin', 'psql')));
    versions.sort((a, b) => Number(b) - Number(a));
    if (versions.length) found = path.join(base, versions[0], 'bin', 'psql');
  } catch {
    /* not Debian's layout: use PATH */
  }
  return (psqlPath = found || 'psql');
}

/** Run SQL through psql as the test cluster's superuser. Resolves with stdout (unaligned, tuples only). */
async function sql(query, { database = 'postgres' } = {}) {
  const url = new URL(adminUrl());
  url.pathname = '/' + database;
  const { stdout } = await execFileP(psql(), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', url.toString(), '-c', query]);
  return stdout;
}

let dbCounter = 0;
/**
 * Creates a fresh, empty database in the test cluster and resolves with its URL
 * (postgres://USER@127.0.0.1:PORT/NAME). Each startServer() without `databaseUrl` gets its own.
 */
async function createDatabase(prefix = 'mbtest') {
  const name = `${prefix}_${process.pid}_${++dbCounter}_${crypto.randomBytes(3).toString('hex')}`
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_');
  await sql(`CREATE DATABASE "${name}"`);
  const url = new URL(adminUrl());
  url.pathname = '/' + name;
  return url.toString();
}

/** Drops a database made by createDatabase() (terminating its connections first). */
async function dropDatabase(databaseUrl) {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
  await sql(`DROP DATABASE IF EXISTS "${name.replace(/"/g, '""')}" WITH (FORCE)`);
}

function pgTool(cmd) {
  const dir = process.env.MOONBASE_TEST_PG_DIR;
  if (!dir) throw new Error('MOONBASE_TEST_PG_DIR is not set (run through tools/test.sh)');
  return execFileP(path.join(REPO_ROOT, 'tools', 'pg.sh'), [cmd, dir], { timeout: 90000 });
}
/**
 * Stops the shared test cluster (fast shutdown): every server of every test file running now
 * loses its database. Prefer privatePostgres() for outage tests.
 */
async function pgStop() {
  await pgTool('stop');
}
/** Starts the test cluster again on the same port. */
async function pgStart() {
  await pgTool('start');
}

const privateClusters = new Set(); // folders of privatePostgres() clusters, destroyed at exit

/**
 * A PostgreSQL cluster of this test file's own (tools/pg.sh in a temp folder, free port),
 * for tests that stop and start the database: stopping the shared cluster (pgStop) would break
 * every other test file running at the same time. Takes about a second. Resolves with
 * {dir, port, url (superuser, database postgres), createDatabase(prefix), stop(), start(), destroy()}.
 * Destroyed automatically when the test file ends.
 */
async function privatePostgres() {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'moonbase-pg-'));
  await fsp.chmod(dir, 0o755);
  privateClusters.add(dir);
  const pgsh = path.join(REPO_ROOT, 'tools', 'pg.sh');
  const env = { ...process.env, MOONBASE_PG_FAST: '1' };
  let port;
  let lastErr;
  for (let attempt = 0; attempt < 3 && !port; attempt++) {
    const p = await freePort();
    try {
      await execFileP(pgsh, ['start', dir, String(p)], { env, timeout: 90000 });
      port = p;
    } catch (e) {
      lastErr = e;
    }
  }
  if (!port) throw lastErr;
  const { stdout } = await execFileP(pgsh, ['url', dir, 'postgres']);
  const url = stdout.trim();
  let n = 0;
  return {
    dir,
    port,
    url,
    async createDatabase(prefix = 'mbtest') {
      const name = `${prefix}_${process.pid}_p${++n}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
      await execFileP(psql(), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', `CREATE DATABASE "${name}"`]);
      const u = new URL(url);
      u.pathname = '/' + name;
      return u.toString();
    },
    stop: () => execFileP(pgsh, ['stop', dir], { timeout: 90000 }),
    start: () => execFileP(pgsh, ['start', dir], { env, timeout: 90000 }),
    async destroy() {
      privateClusters.delete(dir);
      await execFileP(pgsh, ['destroy', dir], { timeout: 90000 });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP

/**
 * One HTTP request. `body`: undefined (none), a string/Buffer (sent as is; content-type defaults
 * to application/json), or any other value (JSON-encoded). Resolves with
 * {status, headers, text, json} — json is undefined when the body is not JSON.
 */
function httpRequest(port, method, urlPath, body, headers = {}, { timeoutMs = 10000, host = '127.0.0.1' } = {}) {
  return new Promise((resolve, reject) => {
    const hdrs = { ...headers };
    const has = (h) => Object.keys(hdrs).some((k) => k.toLowerCase() === h);
    let data;
    if (body !== undefined) {
      data = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      if (!has('content-type')) hdrs['content-type'] = 'application/json';
      if (!has('content-length')) hdrs['content-length'] = Buffer.byteLength(data);
    }
    const req = http.request({ host, port, method, path: urlPath, headers: hdrs, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try {
          json = text.length ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${urlPath} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------
// WebSocket client

let cidCounter = 0;

function matcher(match) {
  if (match === undefined || match === null) return () => true;
  if (typeof match === 'function') return match;
  if (typeof match === 'string') return (m) => m && m.type === match;
  if (match instanceof RegExp) return (m) => m && typeof m.type === 'string' && match.test(m.type);
  throw new TypeError('match must be a type string, RegExp, predicate or undefined');
}

/**
 * A WebSocket client around the `ws` package.
 *   send(obj)                 JSON-encodes objects; strings and Buffers are sent as they are
 *   sendRaw(data, {binary})   exactly these bytes
 *   request(type, payload, {timeoutMs, cid})  sends with a fresh cid, resolves with the reply
 *                             that carries the same cid (any type, `error` included)
 *   ok(type, payload, opts)   like request, but resolves with reply.payload and throws on `error`
 *   next(match, timeoutMs)    the next buffered or incoming message matching `match` (a type,
 *                             RegExp on type, predicate or nothing); removes it from the buffer
 *   expectNone(match, ms)     resolves when nothing matching arrives within ms
 *   close(code, reason)       resolves with {code, reason} once closed
 *   closed                    promise of {code, reason} (never rejects)
 *   waitClosed(timeoutMs)     closed, with a timeout
 *   buffer / received         unconsumed messages / every message received
 * Text frames that are not JSON arrive as {raw: string}; binary frames as {binary: Buffer}.
 */
class WsClient {
  constructor(socket, url) {
    this.socket = socket;
    this.url = url;
    this.buffer = [];
    this.received = [];
    this.waiters = [];
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      this._resolveClosed = resolve;
    });
    socket.on('message', (data, isBinary) => this._onMessage(data, isBinary));
    socket.on('error', (err) => {
      this.lastError = err;
    });
    socket.on('close', (code, reason) => {
      this.closeInfo = { code, reason: reason ? reason.toString() : '' };
      this._resolveClosed(this.closeInfo);
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w.reject(this._closedError(w.what));
    });
  }

  get isOpen() {
    return this.socket.readyState === wsLib().OPEN;
  }

  _closedError(what) {
    const c = this.closeInfo || {};
    const got = this.buffer.map((m) => m.type ?? (m.raw !== undefined ? 'raw' : 'binary'));
    return new Error(`${what}: socket closed (code ${c.code}, reason ${JSON.stringify(c.reason)}); unconsumed: ${JSON.stringify(got)}`);
  }

  _onMessage(data, isBinary) {
    let msg;
    if (isBinary) msg = { binary: Buffer.from(data) };
    else {
      const text = data.toString('utf8');
      try {
        msg = JSON.parse(text);
      } catch {
        msg = { raw: text };
      }
    }
    this.received.push(msg);
    if (process.env.MOONBASE_TEST_VERBOSE === '1') process.stderr.write(`ws <- ${JSON.stringify(msg)}\n`);
    const i = this.waiters.findIndex((w) => w.test(msg));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w.resolve(msg);
    } else {
      this.buffer.push(msg);
    }
  }

  send(obj) {
    const data = typeof obj === 'string' || Buffer.isBuffer(obj) ? obj : JSON.stringify(obj);
    if (process.env.MOONBASE_TEST_VERBOSE === '1') process.stderr.write(`ws -> ${String(data).slice(0, 500)}\n`);
    this.socket.send(data);
  }

  sendRaw(data, { binary = false } = {}) {
    this.socket.send(data, { binary });
  }

  next(match, timeoutMs = DEFAULT_TIMEOUT_MS) {
    const test = matcher(match);
    const what = `next(${typeof match === 'function' ? 'predicate' : String(match)})`;
    const i = this.buffer.findIndex(test);
    if (i >= 0) return Promise.resolve(this.buffer.splice(i, 1)[0]);
    if (this.closeInfo) return Promise.reject(this._closedError(what));
    return new Promise((resolve, reject) => {
      const w = { test, what };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        const got = this.buffer.map((m) => m.type ?? m.raw ?? '<binary>');
        reject(new Error(`${what} timed out after ${timeoutMs} ms; unconsumed messages: ${JSON.stringify(got)}`));
      }, timeoutMs);
      w.resolve = (m) => {
        clearTimeout(timer);
        resolve(m);
      };
      w.reject = (e) => {
        clearTimeout(timer);
        reject(e);
      };
      this.waiters.push(w);
    });
  }

  async expectNone(match, ms = 500) {
    const test = matcher(match);
    const i = this.buffer.findIndex(test);
    if (i >= 0) throw new Error(`expected no matching message, but one is buffered: ${JSON.stringify(this.buffer[i])}`);
    let got;
    try {
      got = await this.next(test, ms);
    } catch {
      return; // timed out (or closed): nothing arrived
    }
    throw new Error(`expected no matching message within ${ms} ms, got ${JSON.stringify(got)}`);
  }

  request(type, payload = {}, { timeoutMs = DEFAULT_TIMEOUT_MS, cid } = {}) {
    const id = cid ?? `c${++cidCounter}`;
    const reply = this.next((m) => m && m.cid === id, timeoutMs);
    this.send({ cid: id, type, payload });
    return reply;
  }

  async ok(type, payload = {}, opts = {}) {
    const reply = await this.request(type, payload, opts);
    if (reply.type === 'error') {
      const err = new Error(`${type} failed: ${JSON.stringify(reply.payload)}`);
      err.reply = reply;
      throw err;
    }
    return reply.payload;
  }

  waitClosed(timeoutMs = DEFAULT_TIMEOUT_MS) {
    return withTimeout(this.closed, timeoutMs, 'waiting for the socket to close');
  }

  async close(code = 1000, reason = '', timeoutMs = DEFAULT_TIMEOUT_MS) {
    if (!this.closeInfo) {
      try {
        this.socket.close(code, reason);
      } catch {
        this.socket.terminate();
      }
    }
    try {
      return await this.waitClosed(timeoutMs);
    } catch (e) {
      this.socket.terminate();
      return this.closed;
    }
  }
}

/**
 * Opens a WebSocket and resolves with a WsClient once open. Rejects on a refused upgrade
 * (err.status = HTTP status) or after timeoutMs.
 */
function connectWs(url, { headers = {}, timeoutMs = DEFAULT_TIMEOUT_MS, protocols, maxPayload } = {}) {
  const WS = wsLib();
  return new Promise((resolve, reject) => {
    const socket = new WS(url, protocols, { headers, handshakeTimeout: timeoutMs, maxPayload: maxPayload ?? 0 });
    const client = new WsClient(socket, url);
    const fail = (err) => {
      clearTimeout(timer);
      socket.terminate();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`WebSocket ${url}: no open within ${timeoutMs} ms`)), timeoutMs);
    socket.once('open', () => {
      clearTimeout(timer);
      resolve(client);
    });
    socket.once('unexpected-response', (req, res) => {
      const err = new Error(`WebSocket ${url}: upgrade refused with HTTP ${res.statusCode}`);
      err.status = res.statusCode;
      res.resume();
      fail(err);
    });
    socket.once('error', (err) => fail(err));
  });
}

// ---------------------------------------------------------------------------------------------
// Server

const live = new Set();
const tempDirs = new Set(); // data dirs made by startServer, removed at exit (MOONBASE_TEST_KEEP=1 keeps them)

/**
 * Starts MOONBASE_BIN on a free 127.0.0.1 port with a fresh data dir and a fresh database, and
 * resolves once it logs `event=listening`. Options:
 *   env         extra environment (inherited MOONBASE_* variables are removed first)
 *   args        extra command-line arguments, after the harness's own (so they win)
 *   scripts     scripts folder (default: the repo's scripts/)
 *   databaseUrl use this database instead of a new one (e.g. to restart on the same data)
 *   dataDir     use this data dir instead of a new one
 *   logLevel    default 'debug'
 *   adminToken  default: random; also returned as server.adminToken
 *   name        label for the log file (default: the test file's name)
 *   startTimeoutMs  default 30000 (MOONBASE_TEST_START_TIMEOUT_MS)
 *   waitHealthy default true: after `event=listening`, also wait for GET /healthz -> 200
 *               (pass false to test a server whose database is down)
 * The server object: {port, baseUrl, wsUrl, databaseUrl, dataDir, adminToken, pid, proc, exited,
 *   http(method, path, body, headers, opts), ws(path, opts), stop(signal, timeoutMs), kill(),
 *   logs(), waitForLog(re, timeoutMs), running}.
 */
async function startServer(opts = {}) {
  const bin = path.resolve(REPO_ROOT, process.env.MOONBASE_BIN || path.join('build', 'moonbase'));
  if (!fs.existsSync(bin)) {
    throw new Error(`server binary not found: ${bin} (build it: make build; or set MOONBASE_BIN)`);
  }
  const databaseUrl = opts.databaseUrl || (await createDatabase());
  let dataDir = opts.dataDir;
  if (!dataDir) {
    dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'moonbase-data-'));
    tempDirs.add(dataDir);
  }
  const scripts = path.resolve(REPO_ROOT, opts.scripts || 'scripts');
  const adminToken = opts.adminToken || crypto.randomBytes(16).toString('hex');
  let lastErr;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = opts.port || (await freePort());
    try {
      return await launch({ ...opts, bin, port, databaseUrl, dataDir, scripts, adminToken });
    } catch (e) {
      lastErr = e;
      // Another process took the port between freePort() and bind(): try another one.
      if (opts.port || !e.addressInUse) throw e;
    }
  }
  throw lastErr;
}

function callerName() {
  const main = process.argv[1] ? path.basename(process.argv[1]).replace(/\.test\.[cm]?js$/, '') : 'test';
  return main.replace(/[^A-Za-z0-9_.-]/g, '_');
}

async function launch(o) {
  const args = [
    '--host', '127.0.0.1',
    '--port', String(o.port),
    '--database-url', o.databaseUrl,
    '--scripts', o.scripts,
    '--data-dir', o.dataDir,
    '--log-level', o.logLevel || 'debug',
    '--admin-token', o.adminToken,
    '--mode', 'development',
    ...(o.args || []),
  ];
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MOONBASE_')) env[k] = v;
  Object.assign(env, o.env || {});

  const name = o.name || callerName();
  const logDir = process.env.MOONBASE_TEST_LOG_DIR;
  let logFile = null;
  let logStream = null;
  if (logDir) {
    fs.mkdirSync(logDir, { recursive: true });
    logFile = path.join(logDir, `${name}-${path.basename(path.dirname(o.bin))}-${o.port}.log`);
    logStream = fs.createWriteStream(logFile);
    logStream.write(`# ${o.bin} ${args.join(' ')}\n`);
  }

  const proc = spawn(o.bin, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (process.env.MOONBASE_TEST_PID_FILE && proc.pid) {
    try {
      fs.appendFileSync(process.env.MOONBASE_TEST_PID_FILE, `${proc.pid}\n`);
    } catch {
      /* best effort */
    }
  }

  let output = '';
  const logWaiters = [];
  const onData = (chunk) => {
    const s = chunk.toString('utf8');
    output += s;
    if (logStream) logStream.write(s);
    if (process.env.MOONBASE_TEST_VERBOSE === '1') process.stderr.write(s);
    for (const w of [...logWaiters]) w.check();
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);

  let exitInfo = null;
  const exited = new Promise((resolve) => {
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      if (logStream) logStream.end();
      for (const w of [...logWaiters]) w.check();
      resolve(exitInfo);
    };
    proc.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      // 'close' follows once the pipes are drained; don't wait forever if something holds them.
      setTimeout(settle, 2000).unref();
    });
    proc.on('close', (code, signal) => {
      if (!exitInfo) exitInfo = { code, signal };
      settle();
    });
    proc.on('error', (err) => {
      exitInfo = { code: null, signal: null, error: err };
      settle();
    });
  });

  /** Resolves with the first log line matching `re` (searching what was logged so far too). */
  function waitForLog(re, timeoutMs = DEFAULT_TIMEOUT_MS, { from = 0 } = {}) {
    return new Promise((resolve, reject) => {
      const w = {
        check() {
          const text = output.slice(from);
          const m = re.exec(text);
          if (m) {
            const start = text.lastIndexOf('\n', m.index) + 1;
            let end = text.indexOf('\n', m.index);
            if (end < 0) end = text.length;
            finish();
            resolve(text.slice(start, end));
          } else if (exitInfo) {
            finish();
            reject(new Error(`server exited (${fmtExit(exitInfo)}) before logging ${re}\n--- server log (tail) ---\n${tail(output)}`));
          }
        },
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no log line matching ${re} within ${timeoutMs} ms\n--- server log (tail) ---\n${tail(output)}`));
      }, timeoutMs);
      function finish() {
        clearTimeout(timer);
        const i = logWaiters.indexOf(w);
        if (i >= 0) logWaiters.splice(i, 1);
      }
      logWaiters.push(w);
      w.check();
    });
  }

  const server = {
    port: o.port,
    host: '127.0.0.1',
    baseUrl: `http://127.0.0.1:${o.port}`,
    wsUrl: `ws://127.0.0.1:${o.port}/ws`,
    databaseUrl: o.databaseUrl,
    dataDir: o.dataDir,
    scripts: o.scripts,
    adminToken: o.adminToken,
    bin: o.bin,
    args,
    proc,
    pid: proc.pid,
    exited,
    logFile,
    get running() {
      return !exitInfo;
    },
    logs: () => output,
    waitForLog,
    http: (method, urlPath, body, headers, hopts) => httpRequest(o.port, method, urlPath, body, headers, hopts),
    ws: (urlPath = '/ws', wopts) => connectWs(`ws://127.0.0.1:${o.port}${urlPath}`, wopts),
    /**
     * Sends `signal` (default SIGTERM), waits for the exit (SIGKILL after timeoutMs) and resolves
     * with the exit code (128 + signal number when killed by a signal). Throws when the output
     * holds a sanitizer report or the server had to be killed.
     */
    async stop(signal = 'SIGTERM', timeoutMs = 15000) {
      live.delete(server);
      if (!exitInfo) {
        try {
          proc.kill(signal);
        } catch {
          /* already gone */
        }
        try {
          await withTimeout(exited, timeoutMs, `server pid ${proc.pid} exit after ${signal}`);
        } catch (e) {
          proc.kill('SIGKILL');
          await exited;
          throw new Error(`${e.message}; killed\n--- server log (tail) ---\n${tail(output)}`);
        }
      }
      await exited;
      checkSanitizers();
      return exitCode(exitInfo);
    },
    /** SIGKILL, no checks (for crash-recovery tests). */
    async kill() {
      live.delete(server);
      if (!exitInfo) proc.kill('SIGKILL');
      await exited;
      return exitCode(exitInfo);
    },
    /** Throws if a sanitizer has reported so far. */
    checkSanitizers,
  };

  function checkSanitizers() {
    const report = sanitizerReport(output);
    if (report) {
      throw new Error(`sanitizer report in server output (${logFile || 'no log file'}):\n${report}`);
    }
  }

  live.add(server);
  const deadline = Date.now() + (o.startTimeoutMs || START_TIMEOUT_MS);
  try {
    await waitForLog(/event=listening/, deadline - Date.now());
    // The database pool connects after the listener is up: unless asked not to, wait until
    // /healthz says the server is ready, so tests start from a known state.
    if (o.waitHealthy !== false) {
      let last;
      for (;;) {
        if (exitInfo) throw new Error(`server exited (${fmtExit(exitInfo)}) before /healthz answered 200\n--- server log (tail) ---\n${tail(output)}`);
        last = await httpRequest(o.port, 'GET', '/healthz', undefined, {}, { timeoutMs: 2000 }).catch((e) => ({ status: e.message }));
        if (last.status === 200) break;
        if (Date.now() > deadline) {
          throw new Error(`/healthz did not answer 200 within the start timeout (last: ${last.status} ${last.text || ''})\n--- server log (tail) ---\n${tail(output)}`);
        }
        await sleep(50);
      }
    }
  } catch (e) {
    live.delete(server);
    if (!exitInfo) {
      proc.kill('SIGKILL');
      await exited;
    }
    if (/address already in use|EADDRINUSE|could not bind|bind.*fail/i.test(output)) e.addressInUse = true;
    if (exitInfo && exitInfo.error) e.message += `\n(spawn failed: ${exitInfo.error.message})`;
    throw e;
  }
  return server;
}

function exitCode(info) {
  if (info.code !== null && info.code !== undefined) return info.code;
  if (info.signal) return 128 + (os.constants.signals[info.signal] || 0);
  return -1;
}

function fmtExit(info) {
  if (info.error) return `spawn error: ${info.error.message}`;
  return info.signal ? `signal ${info.signal}` : `code ${info.code}`;
}

// Stop whatever a test file left running, and check it for sanitizer reports; then remove
// the private clusters.
async function stopAll() {
  const problems = [];
  for (const s of [...live]) {
    try {
      await s.stop();
    } catch (e) {
      problems.push(e.message);
    }
  }
  for (const dir of [...privateClusters]) {
    privateClusters.delete(dir);
    await execFileP(path.join(REPO_ROOT, 'tools', 'pg.sh'), ['destroy', dir], { timeout: 90000 }).catch(() => {});
  }
  if (problems.length) {
    process.exitCode = 1;
    throw new Error(problems.join('\n\n'));
  }
}
// Root-level hook that runs once the file's tests are done; registered only under the test
// runner (calling node:test elsewhere would start a root test of its own).
if (process.env.NODE_TEST_CONTEXT || process.execArgv.includes('--test') || /\.test\.[cm]?js$/.test(process.argv[1] || '')) {
  try {
    require('node:test').after(stopAll);
  } catch {
    /* node:test without root hooks */
  }
}
process.on('exit', () => {
  for (const s of live) {
    try {
      s.proc.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (process.env.MOONBASE_TEST_KEEP !== '1') {
    for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
  }
  // Clusters still here (no node:test root hook ran): stop them synchronously.
  for (const dir of privateClusters) {
    try {
      require('node:child_process').execFileSync(path.join(REPO_ROOT, 'tools', 'pg.sh'), ['destroy', dir], { stdio: 'ignore', timeout: 60000 });
    } catch {
      /* best effort */
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Sessions

/**
 * Device auth + WebSocket + session.connect. Resolves with
 * {ws, player_id, token, refresh_token, username, auth} (auth = the REST reply body).
 */
async function authed(server, { device_id, username, path: wsPath = '/ws' } = {}) {
  const body = { device_id: device_id || `dev-${crypto.randomBytes(8).toString('hex')}` };
  if (username !== undefined) body.username = username;
  const res = await server.http('POST', '/v1/auth/device', body);
  if (res.status < 200 || res.status > 299 || !res.json || !res.json.token) {
    throw new Error(`POST /v1/auth/device -> ${res.status} ${res.text}`);
  }
  const ws = await server.ws(wsPath);
  const reply = await ws.request('session.connect', { token: res.json.token });
  if (reply.type !== 'session.connected') {
    await ws.close();
    throw new Error(`session.connect -> ${JSON.stringify(reply)}`);
  }
  return {
    ws,
    player_id: reply.payload.player_id,
    token: res.json.token,
    refresh_token: res.json.refresh_token,
    username: res.json.username,
    auth: res.json,
  };
}

// ---------------------------------------------------------------------------------------------
// waits on what the server shows (instead of fixed sleeps)

/** One request/reply round trip on `ws` (session.heartbeat; any reply counts, an error included):
 * afterwards everything the server sent on this socket before the reply has arrived, and
 * everything sent on it before has been handled. Use it before asserting that nothing more came. */
async function roundTrip(ws, timeoutMs = DEFAULT_TIMEOUT_MS) {
  await ws.request('session.heartbeat', {}, { timeoutMs });
}

/** Closes `ws` (a socket of `playerId`) and resolves once the server has run its close handlers:
 * session.c logs event=session_closed and runs the module hooks in the same callback, so a request
 * sent afterwards sees the socket gone. Needs log level debug (the harness default). */
async function closeSession(server, ws, playerId, timeoutMs = 10000) {
  const from = server.logs().length;
  await ws.close();
  await server.waitForLog(new RegExp(`event=session_closed session=\\d+ player=${playerId}(\\s|$)`), timeoutMs, { from });
}

/**
 * A temp scripts folder for one suite: a copy of the repo's scripts/ plus the named test modes
 * from tests/integration/scripts/modes/ (e.g. ['faulty']) and extra files given as
 * {'server.lua': text, 'modes/x.lua': text}. The caller removes it
 * (fs.rmSync(dir, { recursive: true, force: true })).
 */
function scriptsDir(testModes = [], files = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moonbase-scripts-'));
  fs.cpSync(path.join(REPO_ROOT, 'scripts'), dir, { recursive: true });
  for (const m of testModes) {
    fs.copyFileSync(path.join(__dirname, 'scripts', 'modes', `${m}.lua`), path.join(dir, 'modes', `${m}.lua`));
  }
  for (const [rel, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, rel), text);
  return dir;
}

let sanitizedCache;
/**
 * True when MOONBASE_BIN is built with AddressSanitizer (its allocator makes every allocation
 * several times slower: timing bounds meant for the release build get more room there).
 */
function sanitized() {
  if (sanitizedCache === undefined) {
    const bin = path.resolve(REPO_ROOT, process.env.MOONBASE_BIN || path.join('build', 'moonbase'));
    try {
      sanitizedCache = fs.readFileSync(bin).includes('__asan_init');
    } catch {
      sanitizedCache = false;
    }
  }
  return sanitizedCache;
}

/** An HS256 JSON Web Token of `claims`, signed with `secret` (what the server's --jwt-secret checks). */
function signJwt(claims, secret) {
  const b64 = (s) => Buffer.from(s).toString('base64url');
  const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64(JSON.stringify(claims));
  const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

/** A session token as the server issues one (sub, usn, iat now, exp ttlS later), signed locally. */
function playerToken(secret, playerId, username, ttlS = 3600) {
  const now = Math.floor(Date.now() / 1000);
  return signJwt({ sub: playerId, usn: username, iat: now, exp: now + ttlS }, secret);
}

module.exports = {
  REPO_ROOT,
  signJwt,
  playerToken,
  sanitized,
  scriptsDir,
  startServer,
  createDatabase,
  dropDatabase,
  sql,
  pgStop,
  pgStart,
  privatePostgres,
  authed,
  connectWs,
  WsClient,
  httpRequest,
  freePort,
  withTimeout,
  sleep,
  waitFor,
  roundTrip,
  closeSession,
  sanitizerReport,
  stopAll,
};
