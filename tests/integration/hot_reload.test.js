'use strict';
// Hot reload (docs/REST.md "Admin: scripts", docs/LUA_API.md): editing a mode file while the
// server runs makes a new version for new matches, running matches keep theirs (or move at a
// tick boundary when the new version defines reload(match, state)); a file that fails to load
// keeps the old version live and GET /v1/admin/scripts shows the error with file:line; an
// error in init surfaces when a match is created; SIGHUP and POST /v1/admin/scripts/reload
// reload everything; a changed lib/ file reloads every mode; server.lua reloads too.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const ADMIN_TOKEN = 'some-long-test-token';
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const bearer = (s) => ({ authorization: `Bearer ${s.token}` });
const HOT_V1 = fs.readFileSync(path.join(__dirname, 'scripts', 'modes', 'hot.lua'), 'utf8');

const waitFor = (what, fn, ms = 5000) => h.waitFor(what, fn, ms, 50);

describe('hot reload', () => {
  let server;
  let dir;
  let hotPath;
  let p; // a player
  const open = [];

  const scripts = async () => {
    const res = await server.http('GET', '/v1/admin/scripts', undefined, admin);
    assert.equal(res.status, 200, res.text);
    return res.json;
  };
  const modeInfo = async (mode) => (await scripts()).modes.find((m) => m.mode === mode);
  const waitVersion = (mode, version) =>
    waitFor(`${mode} version ${version}`, async () => {
      const m = await modeInfo(mode);
      return m && m.version === version ? m : null;
    });
  const waitError = (mode, re) =>
    waitFor(`${mode} load error`, async () => {
      const m = await modeInfo(mode);
      return m && m.error && re.test(m.error) ? m : null;
    });
  async function newPlayer() {
    const s = await h.authed(server);
    open.push(s);
    return s;
  }
  async function createAndJoin(who, mode = 'hot') {
    const res = await server.http('POST', '/v1/matches', { mode }, bearer(who));
    assert.equal(res.status, 201, res.text);
    const joined = await who.ws.ok('match.join', { match_id: res.json.match_id });
    return { id: res.json.match_id, created: res.json, joined };
  }
  const stateOf = (ws, pred, ms = 3000) => ws.next((m) => m.type === 'match.state' && pred(m.payload), ms);

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moonbase-scripts-'));
    fs.cpSync(path.join(h.REPO_ROOT, 'scripts'), dir, { recursive: true });
    hotPath = path.join(dir, 'modes', 'hot.lua');
    fs.writeFileSync(hotPath, HOT_V1);
    server = await h.startServer({ scripts: dir, adminToken: ADMIN_TOKEN, args: ['--auth-rate', '100000'] });
    p = await newPlayer();
  });
  after(async () => {
    for (const s of open) if (s.ws.isOpen) await s.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('GET /v1/admin/scripts needs the admin token and lists every mode with its version', async () => {
    const none = await server.http('GET', '/v1/admin/scripts');
    assert.equal(none.status, 401);
    assert.deepEqual(none.json, { error: { code: 'unauthorized', message: 'admin token required' } });
    assert.equal((await server.http('GET', '/v1/admin/scripts', undefined, { authorization: 'Bearer some-long-test-tokeN' })).status, 401);
    assert.equal((await server.http('GET', '/v1/admin/scripts', undefined, bearer(p))).status, 401, 'a player token is not the admin token');
    const s = await scripts();
    const hot = s.modes.find((m) => m.mode === 'hot');
    assert.deepEqual(Object.keys(hot).sort(), ['error', 'error_at', 'loaded_at', 'mode', 'path', 'retired_at', 'status', 'tick_rate', 'version']);
    assert.equal(hot.status, 'ok');
    assert.equal(hot.version, 1);
    assert.equal(hot.path, hotPath);
    assert.equal(hot.tick_rate, 20);
    assert.equal(hot.error, null);
    assert.deepEqual(s.modes.map((m) => m.mode), [...s.modes.map((m) => m.mode)].sort(), 'sorted by name');
    assert.ok(['arena', 'tictactoe'].every((m) => s.modes.some((x) => x.mode === m)));
    assert.equal(s.server.loaded, true);
    assert.deepEqual([...s.server.rpcs].sort(), ['echo', 'roll']);
  });

  it('an edit makes version 2: the running match keeps version 1, a new match gets version 2', async () => {
    const m1 = await createAndJoin(p);
    assert.equal(m1.created.script_version, 1);
    assert.equal(m1.joined.state.tag, 'v1');
    fs.writeFileSync(hotPath, HOT_V1.replace('local TAG = "v1"', 'local TAG = "v2"'));
    await waitVersion('hot', 2);
    await server.waitForLog(/event=script_loaded mode=hot version=2/, 2000);
    // the running match: still v1 code, several ticks later
    p.ws.buffer.length = 0;
    const s1 = await stateOf(p.ws, () => true);
    const s2 = await stateOf(p.ws, (st) => st.tick >= s1.payload.tick + 3);
    for (const s of [s1, s2]) {
      assert.equal(s.payload.tag, 'v1');
      assert.equal(s.payload.version, 1);
    }
    // each match reports its version
    const live = await server.http('GET', `/v1/matches/${m1.id}`, undefined, bearer(p));
    assert.equal(live.json.script_version, 1);
    // a new match: v2
    const q = await newPlayer();
    const m2 = await createAndJoin(q);
    assert.equal(m2.created.script_version, 2);
    assert.deepEqual([m2.joined.state.tag, m2.joined.state.born, m2.joined.state.version], ['v2', 'v2', 2]);
    const adm = await server.http('GET', '/v1/admin/matches', undefined, admin);
    const versions = Object.fromEntries(adm.json.matches.map((m) => [m.match_id, m.script_version]));
    assert.equal(versions[m1.id], 1);
    assert.equal(versions[m2.id], 2);
  });

  it('a syntax error keeps the old version live; /v1/admin/scripts shows the error with file:line', async () => {
    const broken = HOT_V1.replace('local TAG = "v1"', 'local TAG = "v3"').replace('function M.tick(match, state, tick)', 'function M.tick(match, state, tick');
    fs.writeFileSync(hotPath, broken);
    const info = await waitError('hot', /hot\.lua:\d+:/);
    assert.equal(info.version, 2, 'version 2 stays live');
    assert.match(info.error, new RegExp(`^${hotPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: `));
    assert.equal(typeof info.error_at, 'number');
    await server.waitForLog(/event=script_load_failed mode=hot error=.*hot\.lua:\d+:.* kept_version=live/, 2000);
    const q = await newPlayer();
    const m = await createAndJoin(q);
    assert.equal(m.created.script_version, 2);
    assert.equal(m.joined.state.tag, 'v2');
  });

  it('other refused loads: an error while the chunk runs, an invalid mode table', async () => {
    fs.writeFileSync(hotPath, `error("refused at load time")\n${HOT_V1}`);
    let info = await waitError('hot', /hot\.lua:1: refused at load time/);
    assert.equal(info.version, 2);
    fs.writeFileSync(hotPath, HOT_V1.replace('tick_rate = 20', 'tick_rate = 0'));
    info = await waitError('hot', /tick_rate must be an integer in 1\.\.60/);
    assert.equal(info.version, 2);
    fs.writeFileSync(hotPath, HOT_V1.replace('function M.get_state', 'function M.not_get_state'));
    info = await waitError('hot', /the mode must define get_state/);
    assert.equal(info.version, 2);
    // fixed: the next successful load is version 3 (failures use no version number), error cleared
    fs.writeFileSync(hotPath, HOT_V1.replace('local TAG = "v1"', 'local TAG = "v3"'));
    info = await waitVersion('hot', 3);
    assert.equal(info.error, null);
    assert.equal(info.error_at, null);
  });

  it('an error in the new init: the file loads (only the chunk runs), match creation answers 500 with the message', async () => {
    const src = HOT_V1.replace('local TAG = "v1"', 'local TAG = "v4"')
      .replace('function M.init(match, params) return { born = TAG, ticks = 0 } end',
        'function M.init(match, params)\n  error("init exploded")\nend');
    fs.writeFileSync(hotPath, src);
    const info = await waitVersion('hot', 4);
    assert.equal(info.error, null);
    const res = await server.http('POST', '/v1/matches', { mode: 'hot' }, bearer(p));
    assert.equal(res.status, 500, res.text);
    assert.equal(res.json.error.code, 'internal');
    const line = src.split('\n').findIndex((l) => l.includes('error("init exploded")')) + 1;
    assert.match(res.json.error.message, new RegExp(`^mode 'hot' init failed: .*hot\\.lua:${line}: init exploded$`));
    await server.waitForLog(/event=match_init_failed mode=hot version=4/, 2000);
    // an init that returns no table
    fs.writeFileSync(hotPath, src.replace('error("init exploded")', 'return 42'));
    await waitVersion('hot', 5);
    const res2 = await server.http('POST', '/v1/matches', { mode: 'hot' }, bearer(p));
    assert.equal(res2.status, 500);
    assert.match(res2.json.error.message, /init must return a table \(the state\)/);
    // running matches were not touched
    p.ws.buffer.length = 0;
    assert.equal((await stateOf(p.ws, () => true)).payload.tag, 'v1');
  });

  it('SIGHUP reloads every mode (each gets a new version); so does POST /v1/admin/scripts/reload', async () => {
    fs.writeFileSync(hotPath, HOT_V1.replace('local TAG = "v1"', 'local TAG = "v6"'));
    await waitVersion('hot', 6);
    // let the watcher settle: a fixed wait on purpose, the point is that no reload from the file
    // write is still pending when `before` is read (nothing observable says "no event pending")
    await h.sleep(300);
    const before = Object.fromEntries((await scripts()).modes.map((m) => [m.mode, m.version]));
    const from = server.logs().length;
    process.kill(server.pid, 'SIGHUP');
    await server.waitForLog(/event=scripts_reload trigger=SIGHUP/, 3000, { from });
    await waitFor('every mode reloaded', async () => {
      const now = (await scripts()).modes;
      return now.every((m) => m.version === before[m.mode] + 1);
    });
    const res = await server.http('POST', '/v1/admin/scripts/reload', {}, admin);
    assert.equal(res.status, 200, res.text);
    for (const m of res.json.modes) assert.equal(m.version, before[m.mode] + 2, m.mode);
    assert.equal((await server.http('POST', '/v1/admin/scripts/reload', {})).status, 401);
    const q = await newPlayer();
    const m = await createAndJoin(q);
    assert.equal(m.joined.state.tag, 'v6');
  });

  it('a changed lib/ file reloads every mode', async () => {
    const before = await modeInfo('arena');
    fs.appendFileSync(path.join(dir, 'lib', 'vec.lua'), '\n-- touched by hot_reload.test.js\n');
    await waitVersion('arena', before.version + 1);
  });

  it('a new version with reload(match, state) moves running matches at a tick boundary, state carried over', async () => {
    const q = await newPlayer();
    const m = await createAndJoin(q);
    const ticksBefore = (await stateOf(q.ws, (st) => st.ticks >= 5)).payload.ticks;
    const oldVersion = m.created.script_version;
    const withReload = HOT_V1.replace('local TAG = "v1"', 'local TAG = "r1"').replace(
      'return M',
      'function M.reload(match, state)\n  state.reloaded = (state.reloaded or 0) + 1\n  return state\nend\n\nreturn M'
    );
    fs.writeFileSync(hotPath, withReload);
    const info = await waitVersion('hot', oldVersion + 1);
    const moved = await stateOf(q.ws, (st) => st.tag === 'r1', 3000);
    assert.equal(moved.payload.version, info.version, 'match.version is the new version');
    assert.equal(moved.payload.reloaded, 1, 'reload ran once');
    assert.equal(moved.payload.born, 'v6', 'the state came from the old version');
    assert.ok(moved.payload.ticks >= ticksBefore, 'tick count carried on');
    await server.waitForLog(new RegExp(`event=match_reloaded match=${m.id} mode=hot from_version=${oldVersion} to_version=${info.version}`), 2000);
    const live = await server.http('GET', `/v1/matches/${m.id}`, undefined, bearer(q));
    assert.equal(live.json.script_version, info.version);
    // the first match (version 1, no reload of its own) moved too: the new version has reload
    p.ws.buffer.length = 0;
    const first = await stateOf(p.ws, (st) => st.tag === 'r1', 3000);
    assert.equal(first.payload.born, 'v1');
    assert.equal(first.payload.reloaded, 1);
  });

  it('a reload that fails, or a state that is not JSON, keeps the match on its version', async () => {
    // state holding a function cannot cross into a new VM
    const fnMode = HOT_V1.replace('return { born = TAG, ticks = 0 }', 'return { born = TAG, ticks = 0, f = function() end }')
      .replace('local TAG = "v1"', 'local TAG = "f1"');
    const fnPath = path.join(dir, 'modes', 'hotfn.lua');
    fs.writeFileSync(fnPath, fnMode); // get_state lists its fields, so the function is never sent
    await waitVersion('hotfn', 1);
    const q = await newPlayer();
    const m = await createAndJoin(q, 'hotfn');
    fs.writeFileSync(fnPath, fnMode.replace('local TAG = "f1"', 'local TAG = "f2"').replace('return M', 'function M.reload(match, state) return state end\nreturn M'));
    await waitVersion('hotfn', 2);
    await server.waitForLog(new RegExp(`event=match_reload_skipped match=${m.id} mode=hotfn reason="state is not JSON`), 3000);
    q.ws.buffer.length = 0;
    assert.equal((await stateOf(q.ws, () => true)).payload.tag, 'f1');

    // reload raising an error: rolled back, the match keeps running its version
    const before = await modeInfo('hot');
    const r = await newPlayer();
    const m2 = await createAndJoin(r);
    assert.equal(m2.joined.state.version, before.version);
    fs.writeFileSync(hotPath, HOT_V1.replace('local TAG = "v1"', 'local TAG = "bad"').replace('return M', 'function M.reload(match, state) error("no way") end\nreturn M'));
    await waitVersion('hot', before.version + 1);
    await server.waitForLog(new RegExp(`event=match_reload_failed match=${m2.id} mode=hot error=.*no way`), 3000);
    r.ws.buffer.length = 0;
    const st = await stateOf(r.ws, () => true);
    assert.equal(st.payload.tag, 'r1');
    assert.equal(st.payload.version, before.version);
  });

  it('server.lua reloads too: a new RPC appears; a broken server.lua keeps the old one', async () => {
    const serverLua = path.join(dir, 'server.lua');
    const orig = fs.readFileSync(serverLua, 'utf8');
    fs.writeFileSync(serverLua, `${orig}\nmoonbase.rpc("added", function(ctx, payload) return { added = true } end)\n`);
    await waitFor('rpc added', async () => (await scripts()).server.rpcs.includes('added'));
    const ok = await server.http('POST', '/v1/rpc/added', {}, bearer(p));
    assert.deepEqual(ok.json, { added: true });
    const version = (await scripts()).server.version;
    fs.writeFileSync(serverLua, `${orig}\nmoonbase.rpc("broken", function(\n`);
    const s = await waitFor('server.lua error', async () => {
      const x = (await scripts()).server;
      return x.error ? x : null;
    });
    assert.match(s.error, /server\.lua:\d+:/);
    assert.equal(s.version, version);
    assert.equal((await server.http('POST', '/v1/rpc/added', {}, bearer(p))).status, 200, 'the old server.lua stays live');
  });
});
