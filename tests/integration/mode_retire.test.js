'use strict';
// Deleting or renaming a mode file while the server runs retires the mode (docs/LUA_API.md,
// "Hot reload"; docs/REST.md "Admin: scripts"): new matches are refused with a clear error,
// running matches go on and finish on their version, the log says `event=script_retired` and
// GET /v1/admin/scripts lists the mode with status "retired"; putting the file back brings the
// mode back (a new version).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const ADMIN_TOKEN = 'retire-test-admin-token';
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const bearer = (s) => ({ authorization: `Bearer ${s.token}` });
const SOURCE = `-- retiree (test mode, mode_retire.test.js)
local M = { tick_rate = 20, players = { min = 1, max = 4 } }
function M.init(match, params) return { ticks = 0 } end
function M.tick(match, state, tick) state.ticks = state.ticks + 1 end
function M.input(match, state, player, input)
  if input.action == "finish" then match:finish({ ticks = state.ticks, version = match.version }) end
end
function M.get_state(match, state, viewer) return { ticks = state.ticks, version = match.version } end
return M
`;
const waitFor = (what, fn, ms = 5000) => h.waitFor(what, fn, ms, 50);

describe('retiring a mode whose file is deleted or renamed', () => {
  let server;
  let dir;
  let file;
  const open = [];

  const modeInfo = async (mode) => {
    const res = await server.http('GET', '/v1/admin/scripts', undefined, admin);
    assert.equal(res.status, 200, res.text);
    return res.json.modes.find((m) => m.mode === mode);
  };
  const waitStatus = (mode, status, version) =>
    waitFor(`${mode} ${status}${version ? ` v${version}` : ''}`, async () => {
      const m = await modeInfo(mode);
      return m && m.status === status && (!version || m.version === version) ? m : null;
    });
  const create = (who, mode) => server.http('POST', '/v1/matches', { mode }, bearer(who));
  async function player() {
    const s = await h.authed(server);
    open.push(s);
    return s;
  }

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moonbase-scripts-'));
    fs.cpSync(path.join(h.REPO_ROOT, 'scripts'), dir, { recursive: true });
    file = path.join(dir, 'modes', 'retiree.lua');
    fs.writeFileSync(file, SOURCE);
    server = await h.startServer({ scripts: dir, adminToken: ADMIN_TOKEN, args: ['--auth-rate', '100000'] });
  });
  after(async () => {
    for (const s of open) if (s.ws.isOpen) await s.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('delete: new matches refused, the running match finishes on its version, log and listing say retired; restoring brings it back', async () => {
    const live = await modeInfo('retiree');
    assert.equal(live.status, 'ok');
    assert.equal(live.retired_at, null);
    const p = await player();
    const created = await create(p, 'retiree');
    assert.equal(created.status, 201, created.text);
    const id = created.json.match_id;
    await p.ws.ok('match.join', { match_id: id });
    await p.ws.next('match.started', 3000);

    const from = server.logs().length;
    fs.rmSync(file);
    const retired = await waitStatus('retiree', 'retired');
    assert.equal(retired.version, 1, 'the listing keeps the last version');
    assert.equal(typeof retired.retired_at, 'number');
    assert.equal(retired.error, null);
    await server.waitForLog(/level=warn event=script_retired mode=retiree version=1 path=\S+retiree\.lua running_matches=1 note="the file was deleted or renamed/, 3000, { from });

    // new matches: a clear error
    const refused = await create(p, 'retiree');
    assert.equal(refused.status, 404, refused.text);
    assert.equal(refused.json.error.code, 'not_found');
    assert.match(refused.json.error.message, /mode 'retiree' is retired: its file modes\/retiree\.lua was deleted or renamed/);
    // ... an unknown mode keeps its own message
    assert.match((await create(p, 'never-was')).json.error.message, /^unknown mode 'never-was'$/);

    // the running match goes on ticking, then finishes on version 1
    p.ws.buffer.length = 0;
    const s1 = await p.ws.next('match.state', 3000);
    await p.ws.next((m) => m.type === 'match.state' && m.payload.ticks >= s1.payload.ticks + 5, 3000);
    await p.ws.ok('match.input', { action: 'finish' });
    const fin = await p.ws.next('match.finished', 3000);
    assert.equal(fin.payload.result.version, 1);
    assert.ok(fin.payload.result.ticks >= s1.payload.ticks + 5);

    // restore: a new version, new matches again
    const from2 = server.logs().length;
    fs.writeFileSync(file, SOURCE);
    const back = await waitStatus('retiree', 'ok', 2);
    assert.equal(back.retired_at, null);
    await server.waitForLog(/event=script_loaded mode=retiree version=2 .*restored=true/, 3000, { from: from2 });
    const again = await create(p, 'retiree');
    assert.equal(again.status, 201, again.text);
    assert.equal(again.json.script_version, 2);
  });

  it('rename: the old name is retired, the new name is a mode; renaming back restores it', async () => {
    const p = await player();
    const m = await create(p, 'retiree');
    assert.equal(m.status, 201, m.text);
    await p.ws.ok('match.join', { match_id: m.json.match_id });
    const renamed = path.join(dir, 'modes', 'retiree2.lua');
    fs.renameSync(file, renamed);
    await waitStatus('retiree', 'retired');
    await waitStatus('retiree2', 'ok', 1);
    assert.equal((await create(p, 'retiree')).status, 404);
    assert.equal((await create(p, 'retiree2')).status, 201);
    // the match of the old name still runs
    p.ws.buffer.length = 0;
    const st = await p.ws.next('match.state', 3000);
    assert.equal(st.payload.version, 2);
    fs.renameSync(renamed, file);
    const back = await waitStatus('retiree', 'ok', 3);
    assert.equal(back.path, file);
    await waitStatus('retiree2', 'retired');
    assert.equal((await create(p, 'retiree')).status, 201);
    assert.match((await create(p, 'retiree2')).json.error.message, /mode 'retiree2' is retired/);
  });

  it('POST /v1/admin/scripts/reload also retires a mode whose file is gone', async () => {
    const other = path.join(dir, 'modes', 'retiree3.lua');
    fs.writeFileSync(other, SOURCE);
    await waitStatus('retiree3', 'ok', 1);
    fs.rmSync(other);
    // whichever sees it first (the watcher or the reload), the listing the reload returns says so
    const res = await waitFor('reload lists retiree3 retired', async () => {
      const r = await server.http('POST', '/v1/admin/scripts/reload', {}, admin);
      assert.equal(r.status, 200, r.text);
      const x = r.json.modes.find((mm) => mm.mode === 'retiree3');
      return x && x.status === 'retired' ? x : null;
    });
    assert.equal(res.version, 1);
    // the log line reaches us through the server's stderr pipe, maybe after the reply: wait for it,
    // then check there is exactly one
    const retiredLines = () => server.logs().split('\n').filter((l) => /event=script_retired mode=retiree3 /.test(l)).length;
    await waitFor('script_retired logged', async () => retiredLines() >= 1);
    assert.equal(retiredLines(), 1, 'retired once, logged once');
  });
});
