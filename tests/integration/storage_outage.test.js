'use strict';
// Storage while PostgreSQL goes away mid-batch (docs/STORAGE.md "Failures"): a batch whose
// statement is running when the database stops answers unavailable (503 over REST, nil,
// "unavailable: ..." in an RPC) and none of its objects is written; after the restart the
// same batch succeeds without a server restart.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const h = require('./harness');

const PSQL = fs.existsSync('/usr/lib/postgresql/15/bin/psql') ? '/usr/lib/postgresql/15/bin/psql' : 'psql';
const MODE = `
local moonbase = require("moonbase")
local M = { tick_rate = 20, players = { min = 1, max = 1 } }
function M.init(match, params) return {} end
function M.input(match, state, player, input)
  assert(moonbase.storage.write({ { collection = "outage", key = "match", owner_id = player.id, value = { n = input.n } } }))
  match:finish({ n = input.n })
end
function M.get_state(match, state) return {} end
return M
`;
const SERVER_LUA = `
local moonbase = require("moonbase")
moonbase.rpc("write", function(ctx, p)
  local acks, err = moonbase.storage.write(p.objects)
  return { ok = acks, err = err }
end)
`;

describe('storage: PostgreSQL stopped mid-batch', () => {
  let pg;
  let server;
  let dir;
  let p;
  const bearer = (x) => ({ authorization: `Bearer ${x.token}` });
  const psql = (query) => new Promise((resolve) => {
    const c = spawn(PSQL, ['-X', '-q', '-A', '-t', '-d', server.databaseUrl, '-c', query]);
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    c.on('exit', (code) => resolve({ code, out: out.trim() }));
  });
  const count = async () => (await psql("SELECT count(*) FROM storage_objects WHERE collection = 'outage'")).out;
  // A trigger of this test's database sleeps when the batches under test (v = 1 or 3) write
  // key 'b': the statement has written 'a' and sleeps in 'b' when PostgreSQL stops, so the batch
  // is cut off half done (the sleep only holds the statement there; the stop ends it).
  const stopMidBatch = async (send) => {
    const pending = send();
    await h.waitFor('batch sleeping in the trigger', async () => (await psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%storage_write(%' AND wait_event = 'PgSleep'")).out === '1');
    await pg.stop();
    const res = await pending;
    await pg.start();
    await h.waitFor('database back', async () => (await server.http('GET', '/healthz')).status === 200, 15000);
    return res;
  };
  const batch = (v) => [
    { collection: 'outage', key: 'a', value: { v } },
    { collection: 'outage', key: 'b', value: { v } },
    { collection: 'outage', key: 'c', value: { v } },
  ];

  before(async () => {
    pg = await h.privatePostgres();
    dir = h.scriptsDir([], { 'server.lua': SERVER_LUA, 'modes/stq.lua': MODE });
    server = await h.startServer({ databaseUrl: await pg.createDatabase(), scripts: dir });
    p = await h.authed(server, { device_id: `sto-${Date.now()}` });
    const t = await psql(`CREATE FUNCTION test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.collection = 'outage' AND NEW.key = 'b' AND (NEW.value->>'v')::int IN (1, 3) THEN PERFORM pg_sleep(30); END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_slow BEFORE INSERT OR UPDATE ON storage_objects FOR EACH ROW EXECUTE FUNCTION test_slow();`);
    assert.equal(t.code, 0);
  });
  after(async () => {
    if (p) await p.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (pg) await pg.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('REST: 503 unavailable, nothing of the batch written; the retry writes all', async () => {
    // 'b' exists; 'a' and 'c' do not
    assert.equal((await server.http('PUT', '/v1/storage', { objects: [{ collection: 'outage', key: 'b', value: { v: 0 } }] }, bearer(p))).status, 200);
    const res = await stopMidBatch(() => server.http('PUT', '/v1/storage', { objects: batch(1) }, bearer(p)));
    assert.equal(res.status, 503, res.text);
    assert.equal(res.json.error.code, 'unavailable');
    assert.equal(res.json.error.message, 'database unavailable; retry shortly (a batch is never half written)');
    assert.equal(await count(), '1');
    const r = await server.http('POST', '/v1/storage/read', { ids: [{ collection: 'outage', key: 'b' }] }, bearer(p));
    assert.deepEqual(r.json.objects[0].value, { v: 0 });
    const again = await server.http('PUT', '/v1/storage', { objects: batch(2) }, bearer(p));
    assert.equal(again.status, 200, again.text);
    assert.equal(await count(), '3');
  });

  it('RPC: nil, "unavailable: ..." and nothing written', async () => {
    const before = await psql("SELECT string_agg(key || '=' || (value->>'v'), ',' ORDER BY key) FROM storage_objects WHERE collection = 'outage'");
    const res = await stopMidBatch(() => server.http('POST', '/v1/rpc/write', { objects: batch(3).map((o) => ({ ...o, owner_id: p.player_id })) }, bearer(p)));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.err, 'unavailable: database unavailable; retry shortly (a batch is never half written)');
    const afterRows = await psql("SELECT string_agg(key || '=' || (value->>'v'), ',' ORDER BY key) FROM storage_objects WHERE collection = 'outage'");
    assert.equal(afterRows.out, before.out);
    assert.equal(afterRows.out, 'a=2,b=2,c=2');
  });

  it("a match's write while PostgreSQL is away is retried; match.finished comes once it committed", async () => {
    const c = await server.http('POST', '/v1/matches', { mode: 'stq' }, bearer(p));
    assert.equal(c.status, 201, c.text);
    await p.ws.ok('match.join', { match_id: c.json.match_id });
    await pg.stop();
    await p.ws.ok('match.input', { n: 7 });
    await server.waitForLog(/event=storage_match_write_retry match=/, 5000);
    // while the database is away nothing may arrive: this window is the point of the test
    await p.ws.expectNone('match.finished', 500);
    await pg.start();
    const fin = await p.ws.next('match.finished', 20000);
    assert.deepEqual(fin.payload.result, { n: 7 });
    assert.equal((await psql(`SELECT value->>'n' FROM storage_objects WHERE collection = 'outage' AND key = 'match'`)).out, '7');
  });
});
