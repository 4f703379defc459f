'use strict';
// Leaderboards when PostgreSQL stops with a batch in flight (docs/LEADERBOARDS.md
// "What acknowledged means"). 100 submits are acknowledged; then a psql session locks the
// records table, so the next batch (300 submits and a script write) waits inside PostgreSQL
// (seen in pg_stat_activity), and PostgreSQL stops (fast shutdown aborts it): every one of the
// 300 answers 503 and none is in memory or PostgreSQL (a batch commits whole or not at all:
// nothing half written); a script submit answers `nil, "unavailable"` while the database is
// away; the script write of the failed batch reaches PostgreSQL once it is back, without a
// restart; PostgreSQL then holds exactly the acknowledged submits, and a restart reads the same
// board back. The same lock keeps a client batch in flight for two more rules: a script submit
// for the same record builds on the value in flight and is not overwritten when that batch
// commits; a scheduled reset meanwhile leaves the batch's record in the closed period.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const { execFile, spawn } = require('node:child_process');
const h = require('./harness');

const SERVER_LUA = `
local moonbase = require("moonbase")
moonbase.rpc("lb_submit", function(ctx, p)
  local r, err = moonbase.leaderboard.submit(p.id or "burst", p.owner, p.score)
  return { ok = r ~= nil, err = err, score = r and r.score }
end)
`;

describe('leaderboards: PostgreSQL stopped mid-batch', () => {
  let pg;
  let server;
  let dir;
  let player;
  let locker;
  const admin = () => ({ authorization: `Bearer ${server.adminToken}` });
  const submit = (owner_id, score) =>
    server.http('POST', '/v1/admin/leaderboards/burst/records', { owner_id, score }, admin(), { timeoutMs: 20000 });
  const rpc = (body) => server.http('POST', '/v1/rpc/lb_submit', body, { authorization: `Bearer ${player.token}` });

  before(async () => {
    pg = await h.privatePostgres();
    dir = h.scriptsDir([], { 'server.lua': SERVER_LUA });
    server = await h.startServer({ databaseUrl: await pg.createDatabase(), scripts: dir });
    player = await h.authed(server);
  });
  after(async () => {
    if (locker && locker.exitCode === null) locker.kill();
    if (player) await player.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (pg) await pg.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('while a client batch waits in PostgreSQL: a script submit builds on it and wins; a reset moves the batch to the closed period', async () => {
    const dbName = new URL(server.databaseUrl).pathname.slice(1);
    const url = new URL(pg.url);
    url.pathname = '/' + dbName;
    const psql = (sql) => new Promise((resolve, reject) =>
      execFile('psql', ['-X', '-q', '-A', '-t', '-d', url.toString(), '-c', sql], (err, out) => (err ? reject(err) : resolve(out))));
    const lock = async () => {
      const p = spawn('psql', ['-X', '-q', '-A', '-t', '-d', url.toString()], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.stdin.write("BEGIN; LOCK TABLE leaderboard_records IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n");
      await h.waitFor('the lock', () => out.includes('locked'), 10000, 50);
      return p;
    };
    const waiting = () => h.waitFor('a batch waiting on the lock', async () =>
      Number(await psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%leaderboard_write%'")) > 0, 10000, 50);
    const unlock = (p) => new Promise((resolve) => {
      p.on('exit', resolve);
      p.stdin.end('COMMIT;\n');
    });
    const rank = async (id, o) => (await server.http('GET', `/v1/leaderboards/${id}/records/${o}`, undefined, { authorization: `Bearer ${player.token}` }));
    const clientSubmit = (id, o, score) => server.http('POST', `/v1/admin/leaderboards/${id}/records`, { owner_id: o, score }, admin(), { timeoutMs: 20000 });

    assert.equal((await server.http('POST', '/v1/admin/leaderboards', { id: 'mix', operator: 'incr' }, admin())).status, 201);
    const x = crypto.randomUUID();
    assert.equal((await clientSubmit('mix', x, 5)).status, 200);
    locker = await lock();
    const inFlight = clientSubmit('mix', x, 10); // computed as 15, waits in PostgreSQL
    await waiting();
    // the script submit builds on the value in flight: 15 + 100
    assert.deepEqual((await rpc({ id: 'mix', owner: x, score: 100 })).json, { ok: true, score: 115 });
    await unlock(locker);
    const r = await inFlight;
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.record.score, 15, 'the client is told what its own submit made');
    assert.equal((await rank('mix', x)).json.record.score, 115, 'its commit did not overwrite the newer value');
    await h.waitFor('115 in PostgreSQL', async () => /^115$/m.test(await psql(`SELECT score FROM leaderboard_records WHERE owner_id = '${x}'`)));

    // a scheduled reset while a client batch is in flight: the batch belongs to the closed period
    assert.equal((await server.http('POST', '/v1/admin/leaderboards', { id: 'mix_daily', operator: 'incr', reset: '@daily' }, admin())).status, 201);
    const y = crypto.randomUUID();
    locker = await lock();
    const before = clientSubmit('mix_daily', y, 3);
    await waiting();
    const next = Date.parse((await server.http('GET', '/v1/admin/leaderboards/mix_daily', undefined, admin())).json.next_reset);
    assert.equal((await server.http('PUT', '/v1/admin/leaderboards/clock', { offset_ms: next - Date.now() + 1000 }, admin())).status, 200);
    await unlock(locker);
    assert.equal((await before).status, 200);
    const now = await server.http('GET', '/v1/admin/leaderboards/mix_daily', undefined, admin());
    assert.deepEqual([now.json.leaderboard.period, now.json.records], [2, []], 'not in the new period');
    assert.equal((await rank('mix_daily', y)).status, 404);
    await h.waitFor('the closed period archived', async () =>
      (await server.http('GET', '/v1/leaderboards/mix_daily?period=1', undefined, { authorization: `Bearer ${player.token}` })).status === 200);
    const arch = await server.http('GET', '/v1/leaderboards/mix_daily?period=1', undefined, { authorization: `Bearer ${player.token}` });
    assert.deepEqual(arch.json.records.map((q) => [q.owner_id, q.score]), [[y, 3]]);
    assert.equal((await server.http('PUT', '/v1/admin/leaderboards/clock', { offset_ms: 0 }, admin())).status, 200);
  });

  it('a batch in flight when PostgreSQL stops: its submits answer 503 and nothing of it is written; script writes resume after', async () => {
    const c = await server.http('POST', '/v1/admin/leaderboards', { id: 'burst', operator: 'incr' }, admin());
    assert.equal(c.status, 201, c.text);
    const dbName = new URL(server.databaseUrl).pathname.slice(1);
    const dbUrl = () => {
      const url = new URL(pg.url);
      url.pathname = '/' + dbName;
      return url.toString();
    };
    const psql = (sql) => new Promise((resolve, reject) =>
      execFile('psql', ['-X', '-q', '-A', '-t', '-d', dbUrl(), '-c', sql], (err, out) => (err ? reject(err) : resolve(out))));
    // 1. acknowledged before anything goes wrong
    const early = Array.from({ length: 100 }, () => crypto.randomUUID());
    const first = await Promise.all(early.map((o, i) => submit(o, i + 1)));
    for (const r of first) assert.equal(r.status, 200, r.text);
    // 2. a session holds a lock on the records table, so the next batch waits inside PostgreSQL
    locker = spawn('psql', ['-X', '-q', '-A', '-t', '-d', dbUrl()], { stdio: ['pipe', 'pipe', 'pipe'] });
    let lockOut = '';
    locker.stdout.on('data', (d) => (lockOut += d));
    locker.stdin.write("BEGIN; LOCK TABLE leaderboard_records IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n");
    await h.waitFor('the lock', () => lockOut.includes('locked'), 10000, 50);
    // a script write: in memory at once, queued behind the lock
    const scripted = crypto.randomUUID();
    assert.deepEqual((await rpc({ owner: scripted, score: 7 })).json, { ok: true, score: 7 });
    const late = Array.from({ length: 300 }, () => crypto.randomUUID());
    const pending = late.map((o, i) => submit(o, i + 1).then((r) => [o, r.status, r.text]));
    await h.waitFor('a batch waiting on the lock', async () =>
      Number(await psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%leaderboard_write%'")) > 0, 10000, 50);
    // 3. PostgreSQL stops (fast shutdown: the waiting batch is aborted)
    await pg.stop();
    const results = await Promise.all(pending);
    for (const [o, st, text] of results) assert.equal(st, 503, `${o}: ${st} ${text}`);
    const failedBatches = Number(((await server.http('GET', '/metrics')).text.match(/^moonbase_leaderboard_batch_failures_total (\S+)$/m) || [])[1]);
    assert.ok(failedBatches >= 1, `a batch failed in flight (${failedBatches})`);
    // while down: a script submit is refused with nil, "unavailable" and changes nothing
    const down = await rpc({ owner: crypto.randomUUID(), score: 1 });
    assert.deepEqual(down.json, { ok: false, err: 'unavailable' });
    // memory: exactly the acknowledged ones, plus the script's record
    const total = async () => (await server.http('GET', '/v1/admin/leaderboards/burst?limit=1', undefined, admin())).json.leaderboard.total;
    assert.equal(await total(), early.length + 1);
    const none = await server.http('GET', `/v1/leaderboards/burst/records?owner_ids=${late.slice(0, 100).join(',')}`, undefined, { authorization: `Bearer ${player.token}` });
    assert.deepEqual(none.json.records, []);
    const ok = early;
    const refused = late;

    await pg.start();
    // the script write of the failed batch reaches PostgreSQL without a restart
    await h.waitFor('the script write committed', async () => {
      try {
        return /7/.test(await psql(`SELECT score FROM leaderboard_records WHERE owner_id = '${scripted}'`));
      } catch {
        return false;
      }
    }, 20000, 200);
    const stored = new Set((await psql("SELECT owner_id FROM leaderboard_records WHERE leaderboard_id = 'burst'")).trim().split('\n'));
    stored.delete(scripted);
    assert.equal(stored.size, ok.length, 'PostgreSQL holds exactly the acknowledged submits');
    for (const o of ok) assert.ok(stored.has(o), `acknowledged ${o} is stored`);
    for (const o of refused) assert.ok(!stored.has(o), `refused ${o} is not stored`);
    // a restart reads the same board back
    const before = (await server.http('GET', '/v1/admin/leaderboards/burst?limit=100', undefined, admin())).json.records;
    assert.equal(await server.stop(), 0);
    server = await h.startServer({ databaseUrl: server.databaseUrl, scripts: dir, adminToken: server.adminToken });
    player = await h.authed(server);
    assert.deepEqual((await server.http('GET', '/v1/admin/leaderboards/burst?limit=100', undefined, admin())).json.records, before);
  });
});
