'use strict';
// Leaderboards when PostgreSQL stops with a batch in flight (docs/LEADERBOARDS.md
// "What acknowledged means"). 100 submits are acknowledged; then a psql session locks the
// records table, so the next batch (300 submits and a script write) waits inside PostgreSQL
// (seen in pg_stat_activity), and PostgreSQL stops (fast shutdown aborts it): every one of the
// 300 answers 503 and none is in memory or PostgreSQL (a batch commits whole or not at all:
// nothing half written); a script submit answers `nil, "unavailable"` while the database is
// away; the script write of the failed batch reaches PostgreSQL once it is back, without a
// restart; PostgreSQL then holds exactly the acknowledged submits, and a restart reads the same
// board back.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const { execFile, spawn } = require('node:child_process');
const h = require('./harness');

const SERVER_LUA = `
local moonbase = require("moonbase")
moonbase.rpc("lb_submit", function(ctx, p)
  local r, err = moonbase.leaderboard.submit("burst", p.owner, p.score)
  return { ok = r ~= nil, err = err }
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
    assert.deepEqual((await rpc({ owner: scripted, score: 7 })).json, { ok: true });
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
