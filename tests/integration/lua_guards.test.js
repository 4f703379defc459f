'use strict';
// Issue "Reliability round 2", items 1 and 2 (docs/LUA_API.md "C stack guard", "Pattern guard"):
// recursion through the Lua/C boundary (coroutine.wrap, coroutine.resume, gsub callbacks,
// table.sort comparators) used to overflow the C stack and crash the whole server, and a
// pattern with many `?` held the event loop past the time budget. Now each ends only its
// match, with a clear error; the server keeps serving, a neighbour arena match keeps ticking,
// new matches start, and a script that catches the error with pcall goes on.
// Test mode: tests/integration/scripts/modes/deep.lua.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const h = require('./harness');

const scriptsDir = () => h.scriptsDir(['deep']);

const bearer = (s) => ({ authorization: `Bearer ${s.token}` });

describe('lua guards: C stack overflow and pattern bombs end only their match', () => {
  let server;
  let dir;
  let n1;
  let n2;
  let neighbour;
  const open = [];
  before(async () => {
    dir = scriptsDir();
    // A 1000 ms budget (the per-callback default at 20 Hz is 50 ms): the point here is that the
    // C stack guard and the pattern guard end these calls, not the time budget (at 50 ms, under
    // ASan on a loaded machine, 1 MiB of nested coroutines can take longer than the budget; the
    // match then ends with a timeout, which is safe too but not what this suite shows). The
    // pattern case took 2-3 s against a 1 s budget before the guard.
    server = await h.startServer({ scripts: dir, args: ['--auth-rate', '100000', '--lua-time-ms', '1000'] });
    n1 = await h.authed(server);
    n2 = await h.authed(server);
    open.push(n1, n2);
    const res = await server.http('POST', '/v1/matches', { mode: 'arena', params: { round_ms: 600000 } }, bearer(n1));
    assert.equal(res.status, 201, res.text);
    neighbour = res.json.match_id;
    await n1.ws.ok('match.join', { match_id: neighbour });
    await n2.ws.ok('match.join', { match_id: neighbour });
    await n1.ws.next('match.started', 3000);
  });
  after(async () => {
    for (const s of open) if (s.ws.isOpen) await s.ws.close();
    if (server) assert.equal(await server.stop(), 0); // also fails on a sanitizer report
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function solo() {
    const p = await h.authed(server);
    open.push(p);
    const res = await server.http('POST', '/v1/matches', { mode: 'deep' }, bearer(p));
    assert.equal(res.status, 201, res.text);
    await p.ws.ok('match.join', { match_id: res.json.match_id });
    await p.ws.next('match.started', 3000);
    return { p, id: res.json.match_id };
  }

  async function serverAndNeighbourAlive() {
    assert.ok(server.running, 'the server process is still running');
    assert.equal((await server.http('GET', '/healthz')).status, 200);
    n1.ws.buffer.length = 0;
    const a = await n1.ws.next('match.state', 2000);
    const b = await n1.ws.next('match.state', 2000);
    assert.equal(b.payload.tick, a.payload.tick + 1, 'the neighbour ticks on');
    assert.equal((await n2.ws.request('match.input', { action: 'move', x: 2, y: 3 })).type, 'match.input_ack');
    n1.ws.buffer.length = 0;
  }

  const CSTACK = /^\S*modes\/deep\.lua:\d+: C stack overflow in |^C stack overflow in /;
  const cases = [
    ['wrap', 'coroutine.wrap recursion', /C stack overflow in a coroutine\.wrap function: too many nested/],
    ['resume', 'coroutine.resume recursion', /C stack overflow in coroutine\.resume: too many nested/],
    ['gsub', 'gsub callback recursion', /C stack overflow in string\.gsub: too many nested/],
    ['sort', 'table.sort comparator recursion', /C stack overflow in table\.sort: too many nested/],
  ];
  for (const [action, what, want] of cases) {
    it(`${what} in a tick: that match ends with "C stack overflow", the server and its neighbour go on`, async () => {
      const { p, id } = await solo();
      await p.ws.ok('match.input', { action });
      const fin = (await p.ws.next('match.finished', 5000)).payload;
      assert.equal(fin.match_id, id);
      assert.deepEqual(Object.keys(fin.result), ['error'], JSON.stringify(fin));
      assert.match(fin.result.error, want, fin.result.error);
      assert.match(fin.result.error, CSTACK, fin.result.error);
      await server.waitForLog(new RegExp(`event=match_script_error match=${id} mode=deep `), 2000);
      await serverAndNeighbourAlive();
      // a new match can be created and runs
      const again = await solo();
      const st = await again.p.ws.next('match.state', 2000);
      assert.equal(st.payload.after, 0);
    });
  }

  it('caught by pcall: the match goes on ticking and reports the error', async () => {
    const { p } = await solo();
    await p.ws.ok('match.input', { action: 'caught' });
    const st = await p.ws.next((m) => m.type === 'match.state' && m.payload.after >= 3, 5000);
    assert.match(st.payload.caught, /C stack overflow in a coroutine\.wrap function/);
    await p.ws.expectNone('match.finished', 300); // nothing ends it: the point is that nothing happens
    await serverAndNeighbourAlive();
  });

  it('("a?"):rep(25) .. ("a"):rep(25) on 25 bytes: refused at once, the match ends well inside the 1 s budget', async () => {
    const { p, id } = await solo();
    n1.ws.buffer.length = 0;
    const first = await n1.ws.next('match.state', 2000);
    const t0 = Date.now();
    await p.ws.ok('match.input', { action: 'pattern' });
    const fin = (await p.ws.next('match.finished', 5000)).payload;
    const ms = Date.now() - t0;
    assert.equal(fin.match_id, id);
    assert.match(fin.result.error, /modes\/deep\.lua:\d+: pattern '.*' is too complex for a subject of 25 bytes/, fin.result.error);
    assert.ok(ms < 1000, `ended after ${ms} ms`);
    // the neighbour did not stall: its ticks kept coming while the pattern ran
    const next = await n1.ws.next((m) => m.type === 'match.state' && m.payload.tick > first.payload.tick, 2000);
    assert.ok(next.payload.tick > first.payload.tick);
    await serverAndNeighbourAlive();
  });
});
