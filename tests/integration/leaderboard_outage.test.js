'use strict';
// Leaderboards when PostgreSQL stops in the middle of a burst of submits (docs/LEADERBOARDS.md
// "What acknowledged means"): every submit is answered 200 or 503; every 200 is in PostgreSQL
// and in the ranks, no 503 is in either (a batch commits whole or not at all: nothing half
// written); script submits answer `nil, "unavailable"` while the database is away; queued
// script writes reach PostgreSQL once it is back, without a restart.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
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
    if (player) await player.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (pg) await pg.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('every 200 is durable and ranked, every 503 left nothing; script writes resume after', async () => {
    const c = await server.http('POST', '/v1/admin/leaderboards', { id: 'burst', operator: 'incr' }, admin());
    assert.equal(c.status, 201, c.text);
    const owners = Array.from({ length: 600 }, () => crypto.randomUUID());
    // a script write just before the stop: in memory at once, queued for PostgreSQL
    const scripted = crypto.randomUUID();
    const s = await rpc({ owner: scripted, score: 7 });
    assert.deepEqual(s.json, { ok: true });
    const pending = [];
    for (const [i, o] of owners.entries()) {
      pending.push(submit(o, i + 1).then((r) => [o, r.status, r.text]));
      if (i === 200) pending.push(pg.stop().then(() => ['stop', 0, '']));
      if (i % 50 === 49) await new Promise((r) => setImmediate(r)); // let batches go out between waves
    }
    const results = (await Promise.all(pending)).filter(([o]) => o !== 'stop');
    const ok = results.filter(([, st]) => st === 200).map(([o]) => o);
    const refused = results.filter(([, st]) => st === 503).map(([o]) => o);
    for (const [o, st, text] of results) assert.ok(st === 200 || st === 503, `${o}: ${st} ${text}`);
    assert.ok(refused.length > 0, 'some submits met the stopped database');
    assert.ok(ok.length > 0, 'some submits committed before the stop');
    console.log(`acknowledged ${ok.length}, refused ${refused.length}`);
    // while down: a script submit is refused with nil, "unavailable" and changes nothing
    const down = await rpc({ owner: crypto.randomUUID(), score: 1 });
    assert.deepEqual(down.json, { ok: false, err: 'unavailable' });
    // memory: exactly the acknowledged ones (plus the script's record)
    const total = async () => (await server.http('GET', '/v1/admin/leaderboards/burst?limit=1', undefined, admin())).json.leaderboard.total;
    assert.equal(await total(), ok.length + 1);
    const some = refused.slice(0, 100).join(',');
    const none = await server.http('GET', `/v1/leaderboards/burst/records?owner_ids=${some}`, undefined, { authorization: `Bearer ${player.token}` });
    assert.deepEqual(none.json.records, []);

    await pg.start();
    // the queued script write reaches PostgreSQL without a restart
    const dbName = new URL(server.databaseUrl).pathname.slice(1);
    // (harness sql() talks to the shared cluster; this database is in the private one)
    const psql = async (sql) => {
      const { execFile } = require('node:child_process');
      const url = new URL(pg.url);
      url.pathname = '/' + dbName;
      return new Promise((resolve, reject) => execFile('psql', ['-X', '-q', '-A', '-t', '-d', url.toString(), '-c', sql],
        (err, out) => (err ? reject(err) : resolve(out))));
    };
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
