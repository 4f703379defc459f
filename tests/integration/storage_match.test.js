'use strict';
// moonbase.storage from match callbacks (docs/STORAGE.md "Lua in matches"): writes are queued in
// order and committed without waiting inside the tick; match.finished waits until the match's
// queued writes committed (shown with a row lock holding the final write); reads answer through a
// callback at a later tick.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const h = require('./harness');

const PSQL = fs.existsSync('/usr/lib/postgresql/15/bin/psql') ? '/usr/lib/postgresql/15/bin/psql' : 'psql';
const MODE = `
local moonbase = require("moonbase")
local st = moonbase.storage
local M = { tick_rate = 20, players = { min = 1, max = 2 } }
function M.init(match, params) return {} end
function M.join(match, state, player)
  assert(st.read({ { collection = "wins", key = "w", owner_id = player.id } }, function(m, s, objs, err)
    m:broadcast("read", { n = objs and #objs, value = objs and objs[1] and objs[1].value, err = err })
  end))
end
function M.input(match, state, player, input)
  if input.count then
    for i = 1, input.count do
      assert(st.write({ { collection = "seq", key = "k", owner_id = player.id, value = { i = i } } }))
    end
  end
  if input.bad then
    local ok, err = st.write({ { collection = "bad/x", key = "k", value = {} } })
    match:broadcast("bad", { ok = ok, err = err })
  end
  if input.probe then
    local _, e1 = pcall(st.list, "seq")
    local ok2, e2 = pcall(st.read, { { collection = "c", key = "k" } }) -- no callback
    match:broadcast("probe", { list = e1, read = e2 })
  end
  if input.finish then match:finish({ done = true }) end
end
function M.terminate(match, state, reason)
  for _, p in ipairs(match:players()) do
    st.write({ { collection = "wins", key = "w", owner_id = p.id, value = { final = true } } })
  end
end
function M.get_state(match, state) return {} end
return M
`;

describe('storage from match callbacks', () => {
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
  const newMatch = async () => {
    const c = await server.http('POST', '/v1/matches', { mode: 'stmatch' }, bearer(p));
    assert.equal(c.status, 201, c.text);
    const id = c.json.match_id;
    await p.ws.ok('match.join', { match_id: id });
    return id;
  };

  before(async () => {
    dir = h.scriptsDir([], { 'modes/stmatch.lua': MODE });
    server = await h.startServer({ scripts: dir });
    p = await h.authed(server, { device_id: `stm-${Date.now()}` });
  });
  after(async () => {
    if (p) await p.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a read answers through the callback at a later tick', async () => {
    await server.http('PUT', '/v1/storage', { objects: [{ collection: 'wins', key: 'w', value: { wins: 4 } }] }, bearer(p));
    await newMatch();
    const msg = await p.ws.next((x) => x.type === 'match.message' && x.payload.subject === 'read');
    assert.deepEqual(msg.payload.data, { n: 1, value: { wins: 4 } });
  });

  it('writes are queued in order; bad input is nil, err at once', async () => {
    await p.ws.ok('match.input', { count: 20 });
    await h.waitFor('20 writes committed in order', async () => (await psql(`SELECT value->>'i' FROM storage_objects WHERE collection = 'seq' AND owner_id = '${p.player_id}'`)).out === '20');
    await p.ws.ok('match.input', { bad: true });
    const bad = await p.ws.next((x) => x.type === 'match.message' && x.payload.subject === 'bad');
    assert.equal(bad.payload.data.err, "bad_request: objects[0]: collection may contain only letters, digits, '_', '.', ':' and '-'");
  });

  it('contexts: list is for RPCs; a read in a match needs its callback', async () => {
    await p.ws.ok('match.input', { probe: true });
    const m = await p.ws.next((x) => x.type === 'match.message' && x.payload.subject === 'probe');
    assert.match(m.payload.data.list, /moonbase\.storage\.list is not allowed in input$/);
    assert.match(m.payload.data.read, /bad argument #2 to '\?' \(function expected, got no value\)/);
  });

  it("match.finished waits until the match's final writes committed", async () => {
    // a session holds the player's wins row: terminate's write waits on it (the holder's
    // pg_sleep only keeps the lock for a while)
    const holder = psql(`BEGIN; SELECT 1 FROM storage_objects WHERE collection = 'wins' AND owner_id = '${p.player_id}' FOR UPDATE; SELECT pg_sleep(2.5); COMMIT;`);
    await h.waitFor('lock held', async () => (await psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(2.5)%' AND state = 'active' AND pid <> pg_backend_pid()")).out === '1');
    await p.ws.ok('match.input', { finish: true });
    await h.waitFor('final write waiting', async () => (await psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%storage_write(%' AND wait_event_type = 'Lock'")).out === '1');
    // nothing may arrive while the write waits: this window is the point of the test
    await p.ws.expectNone('match.finished', 500);
    const fin = await p.ws.next('match.finished', 5000);
    assert.deepEqual(fin.payload.result, { done: true });
    // committed before match.finished was sent
    assert.equal((await psql(`SELECT value::text FROM storage_objects WHERE collection = 'wins' AND owner_id = '${p.player_id}'`)).out, '{"final": true}');
    await holder;
  });

  it('the next match finishes as soon as its final write commits', async () => {
    await newMatch();
    await p.ws.next((x) => x.type === 'match.message' && x.payload.subject === 'read');
    await p.ws.ok('match.input', { finish: true });
    const fin = await p.ws.next('match.finished', 3000);
    assert.deepEqual(fin.payload.result, { done: true });
  });
});
