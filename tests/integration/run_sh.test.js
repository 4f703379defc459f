'use strict';
// `make run` / tools/run.sh, in pieces that end by themselves (docs/DEVELOPING.md, "make run"):
// a taken server port or MOONBASE_PG_PORT is a clear error naming the setting to change; two
// checkouts' private PostgreSQL clusters get different free ports, each remembered for the next
// run; the URLs of the demo and console and the admin token's file are printed once the server
// answers; Ctrl-C (SIGINT to the process group, as a terminal sends it) stops the server and
// the cluster and exits 0, and under make leaves no "make: *** Error"; the build step of
// `make run` builds only the server, without make's "Entering directory" lines.
// Every process started here runs in its own process group and is stopped by its PID.
const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const ROOT = h.REPO_ROOT;
const BIN = path.resolve(ROOT, process.env.MOONBASE_BIN || path.join('build', 'moonbase'));
const DEFAULT_TREE = path.dirname(BIN) === path.join(ROOT, 'build');

const started = []; // child processes (group leaders)
const clusters = []; // pg dirs to destroy
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'moonbase-runsh-'));
fs.chmodSync(tmp, 0o755); // as root the cluster's user (postgres) must reach it

after(async () => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) {
    try { process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  for (const d of clusters) {
    try { execFileSync(path.join(ROOT, 'tools', 'pg.sh'), ['destroy', d], { stdio: 'ignore' }); } catch { /* best effort */ }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A port nobody listens on (the kernel picks it; closed again at once). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Something else on 127.0.0.1:port (another checkout's server or PostgreSQL). */
function occupy(port) {
  return new Promise((resolve, reject) => {
    const s = net.createServer((c) => c.destroy());
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MOONBASE_') && !/^(MAKEFLAGS|MAKELEVEL|MFLAGS)$/.test(k)) env[k] = v;
  return { ...env, MOONBASE_SKIP_DEPS: '1', ...extra };
}

/** Starts `cmd args` in its own process group; collects its output. */
function start(cmd, args, env) {
  const child = spawn(cmd, args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  child.out = '';
  const waiters = [];
  const feed = (d) => {
    child.out += d;
    for (const w of [...waiters]) w();
  };
  child.stdout.on('data', feed);
  child.stderr.on('data', feed);
  child.done = new Promise((resolve) => child.on('close', (code, signal) => {
    for (const w of [...waiters]) w();
    resolve({ code, signal });
  }));
  child.waitOutput = (re, ms = 60000) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiters.splice(waiters.indexOf(check), 1);
      reject(new Error(`no ${re} within ${ms} ms; output:\n${child.out}`));
    }, ms);
    const check = () => {
      const m = re.exec(child.out);
      if (m || child.exitCode !== null || child.signalCode !== null) {
        clearTimeout(timer);
        waiters.splice(waiters.indexOf(check), 1);
        if (m) resolve(m);
        else reject(new Error(`exited before ${re}; output:\n${child.out}`));
      }
    };
    waiters.push(check);
    check();
  });
  return child;
}

/** Ctrl-C: SIGINT to the whole process group; resolves with {code, signal} (bounded). */
async function ctrlC(child, ms = 30000) {
  process.kill(-child.pid, 'SIGINT');
  let timer;
  const res = await Promise.race([child.done, new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`still running ${ms} ms after SIGINT:\n${child.out}`)), ms); })]);
  clearTimeout(timer);
  return res;
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function pgStatus(dir) {
  try {
    execFileSync(path.join(ROOT, 'tools', 'pg.sh'), ['status', dir], { stdio: 'ignore' });
    return 0;
  } catch (e) {
    return e.status;
  }
}

describe('tools/run.sh (make run)', () => {
  it('a taken server port: exit 1 at once, naming MOONBASE_PORT; nothing started', async () => {
    const port = await freePort();
    const other = await occupy(port);
    try {
      const pgdir = path.join(tmp, 'never', 'pg');
      const c = start(path.join(ROOT, 'tools', 'run.sh'), [], cleanEnv({ MOONBASE_PORT: String(port), MOONBASE_BIN: BIN, MOONBASE_PG_DIR: pgdir }));
      const { code } = await c.done;
      assert.equal(code, 1, c.out);
      assert.match(c.out, new RegExp(`run: 127\\.0\\.0\\.1:${port} is already in use .*MOONBASE_PORT=${port + 1} make run`));
      assert.ok(!fs.existsSync(pgdir), 'no cluster was created');
    } finally {
      other.close();
    }
  });

  it('a taken MOONBASE_PG_PORT: exit 1, naming MOONBASE_PG_PORT', async () => {
    const [port, pgPort] = [await freePort(), await freePort()];
    const other = await occupy(pgPort);
    try {
      const c = start(path.join(ROOT, 'tools', 'run.sh'), [], cleanEnv({
        MOONBASE_PORT: String(port), MOONBASE_BIN: BIN, MOONBASE_PG_DIR: path.join(tmp, 'fixed', 'pg'), MOONBASE_PG_PORT: String(pgPort),
      }));
      const { code } = await c.done;
      assert.equal(code, 1, c.out);
      assert.match(c.out, new RegExp(`PostgreSQL port ${pgPort} \\(MOONBASE_PG_PORT\\) is already in use.*unset MOONBASE_PG_PORT to pick a free one`));
      assert.ok(!fs.existsSync(path.join(tmp, 'fixed', 'pg', 'data')), 'no cluster was created');
    } finally {
      other.close();
    }
  });

  it('two checkouts: different free PostgreSQL ports, each remembered; URLs printed; Ctrl-C exits cleanly (also under make)', async () => {
    // Below the ephemeral range, so that client sockets do not come and go on these ports.
    const base = 20000 + Math.floor(Math.random() * 9000);
    const squatter = await occupy(base); // e.g. a PostgreSQL of something else on the first port
    const ports = [await freePort(), await freePort(), await freePort()];
    const run = (name, port, extra = {}) => {
      const pgdir = path.join(tmp, name, 'pg');
      if (!clusters.includes(pgdir)) clusters.push(pgdir);
      fs.mkdirSync(path.join(tmp, name, 'data'), { recursive: true });
      return {
        pgdir,
        env: cleanEnv({
          MOONBASE_PORT: String(port), MOONBASE_PG_DIR: pgdir, MOONBASE_PG_PORT_FROM: String(base),
          MOONBASE_DATA_DIR: path.join(tmp, name, 'data'), MOONBASE_BIN: BIN, ...extra,
        }),
      };
    };
    const up = async (c, port) => {
      const m = await c.waitOutput(/run: Moonbase is up \(pid (\d+)\)/, 120000);
      await c.waitOutput(/run: Ctrl-C stops the server and the PostgreSQL cluster\n/);
      const pg = Number(/database postgres:\/\/[^@]+@127\.0\.0\.1:(\d+)\/moonbase/.exec(c.out)[1]);
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(res.status, 200);
      return { serverPid: Number(m[1]), pg };
    };
    try {
      const a = run('a', ports[0]);
      const ca = start(path.join(ROOT, 'tools', 'run.sh'), [], a.env);
      const A = await up(ca, ports[0]);
      assert.ok(A.pg > base && A.pg < base + 100, `A's port ${A.pg} after the taken ${base}`);
      assert.equal(fs.readFileSync(path.join(a.pgdir, 'port'), 'utf8').trim(), String(A.pg), 'remembered');
      // what to open, and where the admin token is
      assert.match(ca.out, new RegExp(`run:   demo      http://127\\.0\\.0\\.1:${ports[0]}/demo\\n`));
      assert.match(ca.out, new RegExp(`run:   console   http://127\\.0\\.0\\.1:${ports[0]}/console   \\(admin token: ${path.join(tmp, 'a', 'data')}/dev-admin-token\\)`));
      assert.ok(fs.existsSync(path.join(tmp, 'a', 'data', 'dev-admin-token')));

      const b = run('b', ports[1]);
      const cb = start(path.join(ROOT, 'tools', 'run.sh'), [], b.env);
      const B = await up(cb, ports[1]);
      assert.ok(B.pg > base && B.pg !== A.pg, `B's port ${B.pg} differs from A's ${A.pg}`);

      // Ctrl-C: run.sh exits 0, its server and cluster are gone, B is untouched
      assert.deepEqual(await ctrlC(ca), { code: 0, signal: null }, ca.out);
      assert.match(ca.out, /run: stopped\n$/);
      assert.ok(!alive(A.serverPid), 'server stopped');
      assert.equal(pgStatus(a.pgdir), 3, 'cluster stopped');
      assert.equal((await fetch(`http://127.0.0.1:${ports[1]}/healthz`)).status, 200);

      // A again, through make, this time building (only the server) when the tree is build/:
      // the same PostgreSQL port as last time
      const extra = DEFAULT_TREE ? { MOONBASE_BIN: '', MOONBASE_BUILD_DIR: path.dirname(BIN) } : {};
      const a2 = run('a', ports[2], extra);
      if (DEFAULT_TREE) delete a2.env.MOONBASE_BIN;
      const cm = start('make', ['run'], a2.env);
      const A2 = await up(cm, ports[2]);
      assert.equal(A2.pg, A.pg, 'the remembered port');
      if (DEFAULT_TREE) {
        assert.match(cm.out, /cmake --build \S+ -j\d+ --target moonbase/);
        assert.doesNotMatch(cm.out, /Entering directory|Leaving directory/);
        assert.doesNotMatch(cm.out, /test_|bench_|fuzz_/, 'nothing but the server is built');
        const before = cm.out.slice(0, cm.out.indexOf('run: Moonbase is up')).split('\n').filter((l) => l && !/ level=/.test(l));
        assert.ok(before.length < 25, `${before.length} lines before the URLs:\n${before.join('\n')}`);
      }
      const res = await ctrlC(cm);
      // make itself dies of the SIGINT it got (as in a terminal), without an error line
      assert.ok(res.code === 0 || res.signal === 'SIGINT', JSON.stringify(res));
      assert.doesNotMatch(cm.out, /make: \*\*\*/);
      assert.match(cm.out, /run: stopped\n$/);
      assert.ok(!alive(A2.serverPid));
      assert.equal(pgStatus(a.pgdir), 3);

      assert.deepEqual(await ctrlC(cb), { code: 0, signal: null }, cb.out);
      assert.ok(!alive(B.serverPid));
      assert.equal(pgStatus(b.pgdir), 3);
    } finally {
      squatter.close();
    }
  });
});
