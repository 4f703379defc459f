// tests/cluster/cluster_harness.js: a private redis-server and N Moonbase nodes sharing it and one
// database (docs/CLUSTER.md), on loopback, for the tests/cluster/ suites. Built on
// tests/integration/harness.js (startServer, createDatabase); everything started here is stopped
// by PID at the end of the file's tests.
'use strict';
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const h = require('../integration/harness');

const redisProcs = new Set();

/** Start redis-server as the current user on a free loopback port, nothing written to disk. */
async function startRedis({ port } = {}) {
  port = port || (await h.freePort());
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--daemonize', 'no', '--protected-mode', 'no', '--loglevel', 'warning', '--dir', require('node:os').tmpdir()],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  if (process.env.MOONBASE_TEST_PID_FILE && proc.pid) {
    try { fs.appendFileSync(process.env.MOONBASE_TEST_PID_FILE, `${proc.pid}\n`); } catch { /* best effort */ }
  }
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const r = {
    port, proc, pid: proc.pid, url: `redis://127.0.0.1:${port}`, exited, running: true,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (!r.running) return;
      proc.kill(signal);
      await Promise.race([exited, new Promise((res) => setTimeout(res, 5000))]);
      if (r.running) proc.kill('SIGKILL');
      await exited;
    },
  };
  exited.then(() => { r.running = false; redisProcs.delete(r); });
  redisProcs.add(r);
  // ready once it accepts a connection
  await h.waitFor('redis-server accepting connections', () => new Promise((resolve) => {
    if (!r.running) return resolve(false);
    const s = require('node:net').connect(port, '127.0.0.1', () => { s.end(); resolve(true); });
    s.on('error', () => resolve(false));
  }), 10000, 50);
  return r;
}

/** One RESP command on a fresh connection (tests only): resolves with the raw reply text. */
function redisCmd(port, ...args) {
  return new Promise((resolve, reject) => {
    const s = require('node:net').connect(port, '127.0.0.1');
    let buf = '';
    s.on('connect', () => {
      s.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join(''));
    });
    s.on('data', (d) => { buf += d; if (buf.endsWith('\r\n')) { s.end(); resolve(buf); } });
    s.on('error', reject);
    setTimeout(() => { s.destroy(); reject(new Error(`redis ${args[0]}: no reply`)); }, 5000).unref();
  });
}

/**
 * A cluster: redis + n nodes named node1..nodeN on one fresh database, sharing the admin token
 * and the JWT secret. opts.args are appended to every node's flags.
 */
async function startCluster(n = 3, opts = {}) {
  const redis = opts.redis || (await startRedis());
  const databaseUrl = opts.databaseUrl || (await h.createDatabase());
  const adminToken = crypto.randomBytes(16).toString('hex');
  const jwtSecret = crypto.randomBytes(24).toString('hex');
  const nodes = [];
  for (let i = 1; i <= n; i++) nodes.push(await startNode(redis, { databaseUrl, adminToken, jwtSecret, id: `node${i}`, ...opts }));
  const c = {
    redis, nodes, databaseUrl, adminToken, jwtSecret,
    startNode: (id, o = {}) => startNode(redis, { databaseUrl, adminToken, jwtSecret, id, ...opts, ...o }),
    admin: (node, method, p, body) => node.http(method, p, body, { authorization: `Bearer ${adminToken}` }),
    /** Wait until every node reaches Redis and lists exactly `ids` in GET /v1/cluster. */
    async waitMembers(ids, ms = 10000, on = null) {
      const want = [...ids].sort().join(',');
      for (const node of on || nodes.filter((x) => x.running)) {
        await h.waitFor(`${node.nodeId} lists ${want}`, async () => {
          const r = await c.admin(node, 'GET', '/v1/cluster');
          return r.status === 200 && r.json.redis === 'ok' && r.json.nodes.map((x) => x.node_id).sort().join(',') === want;
        }, ms, 100);
      }
    },
  };
  return c;
}

async function startNode(redis, { databaseUrl, adminToken, jwtSecret, id, args = [], ...rest }) {
  const s = await h.startServer({
    databaseUrl, adminToken, name: `${process.argv[1] ? require('node:path').basename(process.argv[1]).replace(/\.test\.js$/, '') : 'cluster'}-${id}`,
    ...rest,
    args: ['--redis-url', redis.url, '--node-id', id, '--jwt-secret', jwtSecret, ...args],
  });
  s.nodeId = id;
  return s;
}

async function stopRedisAll() {
  for (const r of [...redisProcs]) await r.stop();
}
// Under the test runner only (as harness.js: calling node:test elsewhere starts a test of its own).
if (process.env.NODE_TEST_CONTEXT || process.execArgv.includes('--test') || /\.test\.[cm]?js$/.test(process.argv[1] || '')) {
  try {
    require('node:test').after(stopRedisAll);
  } catch { /* node:test without root hooks */ }
}
process.on('exit', () => { for (const r of redisProcs) { try { r.proc.kill('SIGKILL'); } catch { /* gone */ } } });

/**
 * A matchmaker mode whose tickets pair only within one room (`same = { "room" }`), never smaller
 * than 2, with no timeout: tickets of distinct rooms wait forever. Returns [path, text] for
 * h.scriptsDir (the matchmaker_* cluster tests).
 */
const waitingMode = (name) => [`modes/${name}.lua`, `local M = {
  tick_rate = 10,
  players = { min = 2, max = 2 },
  matchmaker = { size = { min = 2, max = 2 }, same = { "room" }, fill_after_ms = -1, timeout_ms = 0 },
}
function M.init(match, params) return {} end
function M.get_state(match, state, viewer) return {} end
return M
`];

module.exports = { startRedis, startCluster, redisCmd, stopRedisAll, waitingMode };
