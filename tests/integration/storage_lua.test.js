'use strict';
// moonbase.storage from server.lua RPCs (docs/STORAGE.md "Lua"): each call suspends the RPC's
// coroutine until PostgreSQL answers and returns the result directly; the loop keeps serving
// meanwhile (shown with a row lock that holds one RPC for a while); failures are nil, "code: msg";
// the server bypasses permissions; call contexts, the time budget after a resume, a hot reload
// while an RPC waits.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const h = require('./harness');

const PSQL = fs.existsSync('/usr/lib/postgresql/15/bin/psql') ? '/usr/lib/postgresql/15/bin/psql' : 'psql';

const SERVER_LUA = `
local moonbase = require("moonbase")
local st = moonbase.storage
local function result(v, err) if v == nil then return { err = err } end return { ok = v } end
moonbase.rpc("write", function(ctx, p) return result(st.write(p.objects)) end)
moonbase.rpc("read", function(ctx, p) return result(st.read(p.ids)) end)
moonbase.rpc("delete", function(ctx, p) return result(st.delete(p.ids)) end)
moonbase.rpc("list", function(ctx, p)
  local objs, cursor = st.list(p.collection, p.owner_id, p.limit, p.cursor)
  if objs == nil then return { err = cursor } end
  return { ok = objs, cursor = cursor }
end)
-- read, change, write back with the version: a counter per player, several waits in one RPC
moonbase.rpc("bump", function(ctx, p)
  local id = { collection = "counters", key = "bumps", owner_id = ctx.player_id }
  local objs, err = st.read({ id })
  if not objs then return nil, err end
  local n, version = 0, "*"
  if objs[1] then n, version = objs[1].value.n, objs[1].version end
  local acks, werr = st.write({ { collection = "counters", key = "bumps", owner_id = ctx.player_id,
    value = { n = n + 1 }, version = version, permission_write = "none", permission_read = "public" } })
  if not acks then return nil, werr end
  return { n = n + 1, version = acks[1].version }
end)
-- inside a coroutine of the script's own: refused with nil, err
moonbase.rpc("in_coroutine", function(ctx, p)
  local co = coroutine.create(function() return st.read({ { collection = "c", key = "k" } }) end)
  local ok, v, err = coroutine.resume(co)
  return { ok = ok, v = v, err = err }
end)
-- inside pcall: the wait works (LuaJIT yields across pcall)
moonbase.rpc("in_pcall", function(ctx, p)
  local ok, objs = pcall(st.read, { { collection = "config", key = "motd" } })
  return { ok = ok, n = #objs }
end)
-- the budget applies to each run: after a wait it still stops a loop
moonbase.rpc("spin_after", function(ctx, p)
  st.read({ { collection = "config", key = "motd" } })
  while true do end
end)
moonbase.rpc("bad_type", function(ctx, p) return st.read("nope") end)
moonbase.rpc("version", function(ctx, p) return { v = "__VERSION__" } end)
moonbase.on_chat(function(ctx, channel, content)
  local ok, err = pcall(st.read, { { collection = "c", key = "k" } })
  return tostring(err)
end)
`;

describe('storage from server.lua RPCs', () => {
  let server;
  let dir;
  let p;
  let q;
  const bearer = (x) => ({ authorization: `Bearer ${x.token}` });
  const rpc = (name, body, who = p) => server.http('POST', `/v1/rpc/${name}`, body, bearer(who));
  const db = () => new URL(server.databaseUrl).pathname.slice(1);
  // the server's storage_write statements waiting on a row lock
  const lockWaiters = (n) => h.waitFor(`${n} statement(s) waiting on the lock`, async () =>
    Number((await h.sql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%storage_write(%' AND wait_event_type = 'Lock'", { database: db() })).trim()) === n);

  before(async () => {
    dir = h.scriptsDir([], { 'server.lua': SERVER_LUA.replace('__VERSION__', '1') });
    server = await h.startServer({ scripts: dir, args: ['--lua-time-ms', '200'] });
    p = await h.authed(server, { device_id: `stl-p-${Date.now()}` });
    q = await h.authed(server, { device_id: `stl-q-${Date.now()}` });
  });
  after(async () => {
    for (const x of [p, q]) if (x) await x.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('write, read, list, delete return their results directly; owner_id absent = the server', async () => {
    const w = await rpc('write', { objects: [
      { collection: 'config', key: 'motd', value: { text: 'hello' }, permission_read: 'public', permission_write: 'none' },
      { collection: 'inv', key: 'sword', owner_id: p.player_id, value: { dmg: 5 } },
    ] });
    assert.equal(w.status, 200, w.text);
    assert.deepEqual(w.json.ok.map((a) => [a.key, a.owner_id ?? null]), [['motd', null], ['sword', p.player_id]]);
    const r = await rpc('read', { ids: [{ collection: 'inv', key: 'sword', owner_id: p.player_id }, { collection: 'config', key: 'motd' }] });
    assert.deepEqual(r.json.ok.map((o) => o.value), [{ dmg: 5 }, { text: 'hello' }]);
    const l = await rpc('list', { collection: 'inv', owner_id: p.player_id });
    assert.deepEqual(l.json.ok.map((o) => o.key), ['sword']);
    assert.equal(l.json.cursor, undefined);
    const d = await rpc('delete', { ids: [{ collection: 'inv', key: 'sword', owner_id: p.player_id }] });
    assert.deepEqual(d.json, { ok: 1 });
    // what the RPC wrote is what REST players see
    const pr = await server.http('POST', '/v1/storage/read', { ids: [{ collection: 'config', key: 'motd', owner_id: null }] }, bearer(p));
    assert.deepEqual(pr.json.objects[0].value, { text: 'hello' });
  });

  it('the server bypasses permissions; conditional writes through several waits in one RPC', async () => {
    for (let i = 1; i <= 3; i++) {
      const res = await rpc('bump', {});
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.n, i);
    }
    // the player cannot change it (permission_write none), the RPC just did
    const pw = await server.http('PUT', '/v1/storage', { objects: [{ collection: 'counters', key: 'bumps', value: { n: 99 } }] }, bearer(p));
    assert.equal(pw.status, 403);
    // 10 bumps at once from one player: each read-modify-write either wins or sees a conflict
    const results = await Promise.all(Array.from({ length: 10 }, () => rpc('bump', {})));
    const won = results.filter((x) => x.status === 200).length;
    for (const x of results.filter((y) => y.status !== 200)) {
      assert.equal(x.status, 400);
      assert.match(x.json.error.message, /^conflict: /);
    }
    const final = await server.http('POST', '/v1/storage/read', { ids: [{ collection: 'counters', key: 'bumps' }] }, bearer(p));
    assert.equal(final.json.objects[0].value.n, 3 + won);
  });

  it('failures are nil, "code: message"', async () => {
    const dup = await rpc('write', { objects: [{ collection: 'config', key: 'motd', value: { a: 1 }, version: '*' }] });
    assert.equal(dup.json.err, 'conflict: objects[0] (config/motd): the object already exists (version "*"); nothing was written');
    const bad = await rpc('write', { objects: [{ collection: 'config', value: {} }] });
    assert.equal(bad.json.err, "bad_request: objects[0]: missing field 'key'");
    const owner = await rpc('write', { objects: [{ collection: 'x', key: 'y', owner_id: '00000000-0000-4000-8000-000000000001', value: {} }] });
    assert.equal(owner.json.err, 'bad_request: owner_id names no player; nothing was written');
    const list = await rpc('list', { collection: 'bad/name' });
    assert.match(list.json.err, /^bad_request: collection may contain only/);
    // a wrong argument type raises (a script bug): 500
    assert.equal((await rpc('bad_type', {})).status, 500);
    await server.waitForLog(/event=rpc_failed rpc=bad_type .*bad argument #1 to '\?' \(table expected, got string\)/, 2000);
  });

  it('contexts: not from the script\'s own coroutine, nor on_chat, nor at load; fine inside pcall', async () => {
    const co = await rpc('in_coroutine', {});
    assert.deepEqual(co.json, { ok: true, err: 'bad_request: moonbase.storage.read must be called from the RPC handler itself (not from a coroutine the script made)' });
    const pc = await rpc('in_pcall', {});
    assert.deepEqual(pc.json, { ok: true, n: 1 });
    await p.ws.ok('chat.join', { channel_id: 'stlua' });
    const msg = await p.ws.ok('chat.send', { channel_id: 'stlua', content: 'hi' });
    assert.match(msg.content, /moonbase\.storage\.read is not allowed in on_chat$/);
  });

  it('the loop serves while an RPC waits: a row lock holds one RPC, others answer', async () => {
    await rpc('write', { objects: [{ collection: 'locked', key: 'row', value: { v: 0 } }] });
    // a psql session holds the row for a while (released by its own pg_sleep; the point of the
    // sleep is to hold the lock, not to wait for something)
    const url = new URL(process.env.MOONBASE_TEST_DATABASE_URL);
    url.pathname = '/' + db();
    const holder = spawn(PSQL, ['-X', '-q', '-d', url.toString(), '-c',
      "BEGIN; SELECT 1 FROM storage_objects WHERE collection = 'locked' FOR UPDATE; SELECT pg_sleep(3); COMMIT;"], { stdio: 'ignore' });
    const holderDone = new Promise((resolve) => holder.on('exit', resolve));
    await h.waitFor('lock held', async () => (await h.sql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3)%' AND state = 'active' AND pid <> pg_backend_pid()", { database: db() })).trim() === '1');
    const waiting = rpc('write', { objects: [{ collection: 'locked', key: 'row', value: { v: 1 } }] });
    await lockWaiters(1);
    const t0 = Date.now();
    // while it waits on the lock: other RPCs, storage calls and /healthz answer
    const quick = await rpc('read', { ids: [{ collection: 'config', key: 'motd' }] });
    assert.equal(quick.status, 200);
    assert.equal((await server.http('GET', '/healthz')).status, 200);
    assert.ok(Date.now() - t0 < 1000, `answered in ${Date.now() - t0} ms while the other RPC waited`);
    const w = await waiting;
    assert.equal(w.status, 200, w.text);
    assert.equal(w.json.ok[0].key, 'row');
    await holderDone;
  });

  it('the time budget applies after a resume; the server script keeps working', async () => {
    const res = await rpc('spin_after', {});
    assert.equal(res.status, 500);
    await server.waitForLog(/event=rpc_failed rpc=spin_after player=\S+ status=timeout/, 3000);
    const again = await rpc('read', { ids: [{ collection: 'config', key: 'motd' }] });
    assert.equal(again.status, 200, again.text);
  });

  it('a hot reload while an RPC waits: it finishes on the old script, the next call runs the new one', async () => {
    const url = new URL(process.env.MOONBASE_TEST_DATABASE_URL);
    url.pathname = '/' + db();
    const holder = spawn(PSQL, ['-X', '-q', '-d', url.toString(), '-c',
      "BEGIN; SELECT 1 FROM storage_objects WHERE collection = 'locked' FOR UPDATE; SELECT pg_sleep(2); COMMIT;"], { stdio: 'ignore' });
    const holderDone = new Promise((resolve) => holder.on('exit', resolve));
    await h.waitFor('lock held', async () => (await h.sql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(2)%' AND state = 'active' AND pid <> pg_backend_pid()", { database: db() })).trim() === '1');
    const waiting = rpc('write', { objects: [{ collection: 'locked', key: 'row', value: { v: 2 } }] });
    await lockWaiters(1);
    fs.writeFileSync(path.join(dir, 'server.lua'), SERVER_LUA.replace('__VERSION__', '2'));
    const rl = await server.http('POST', '/v1/admin/scripts/reload', {}, { authorization: `Bearer ${server.adminToken}` });
    assert.ok(rl.status < 300, rl.text);
    await h.waitFor('v2 loaded', async () => (await rpc('version', {})).json.v === '2');
    const w = await waiting;
    assert.equal(w.status, 200, w.text);
    assert.equal(w.json.ok[0].key, 'row');
    await holderDone;
  });
});
