'use strict';
// `make cluster` / tools/cluster.sh N (docs/CLUSTER.md): with a database given (no private
// PostgreSQL) and the binary given (no build), it starts a private redis-server and N nodes on
// consecutive ports, prints their URLs once they answer, the nodes see each other, and Ctrl-C
// (SIGINT to the process group) stops nodes and Redis and exits 0. Runs in its own process group,
// stopped by its PID.
const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('../integration/harness');

const BIN = path.resolve(h.REPO_ROOT, process.env.MOONBASE_BIN || path.join('build', 'moonbase'));
let child = null;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moonbase-clustersh-'));
after(() => {
  if (child && child.exitCode === null && child.signalCode === null) {
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** A base port whose next one is free too. */
async function twoFreePorts() {
  for (let i = 0; i < 20; i++) {
    const p = await h.freePort();
    const ok = await new Promise((resolve) => {
      const s = require('node:net').createServer();
      s.once('error', () => resolve(false));
      s.listen(p + 1, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok && p < 65000) return p;
  }
  throw new Error('no two consecutive free ports');
}

describe('tools/cluster.sh', () => {
  it('starts Redis and 2 nodes that see each other, prints the URLs, stops everything on Ctrl-C', async () => {
    const port = await twoFreePorts();
    const env = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MOONBASE_')) env[k] = v;
    Object.assign(env, {
      MOONBASE_SKIP_DEPS: '1', MOONBASE_BIN: BIN, MOONBASE_PORT: String(port), MOONBASE_DATA_DIR: dataDir,
      MOONBASE_DATABASE_URL: await h.createDatabase(), MOONBASE_ADMIN_TOKEN: 'cluster-sh-admin-token-0123',
      MOONBASE_JWT_SECRET: 'cluster-sh-jwt-secret-0123456789abcdef-0123',
    });
    child = spawn(path.join(h.REPO_ROOT, 'tools', 'cluster.sh'), ['2'], { cwd: h.REPO_ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    await h.waitFor('cluster.sh says the nodes are up', () => out.includes('2 nodes up'), 60000, 100);
    assert.match(out, new RegExp(`node1  http://127\\.0\\.0\\.1:${port} `));
    assert.match(out, new RegExp(`node2  http://127\\.0\\.0\\.1:${port + 1} `));
    const redisPid = Number(/Redis on redis:\/\/127\.0\.0\.1:\d+ \(pid (\d+)\)/.exec(out)[1]);
    const auth = { authorization: 'Bearer cluster-sh-admin-token-0123' };
    await h.waitFor('both nodes listed', async () => {
      const r = await h.httpRequest(port + 1, 'GET', '/v1/cluster', null, auth);
      return r.status === 200 && r.json.nodes.map((n) => n.node_id).sort().join() === 'node1,node2';
    }, 10000, 100);
    process.kill(-child.pid, 'SIGINT'); // Ctrl-C in a terminal: the whole group
    const ex = await h.withTimeout(exited, 30000, 'cluster.sh exit');
    assert.equal(ex.code, 0, out);
    assert.match(out, /cluster: stopped/);
    assert.throws(() => process.kill(redisPid, 0), /ESRCH/); // Redis is gone
    for (const p of [port, port + 1]) {
      const r = await h.httpRequest(p, 'GET', '/healthz', null, {}, { timeoutMs: 2000 }).catch((e) => e);
      assert.ok(r instanceof Error, `port ${p} still answers`);
    }
  });
});
