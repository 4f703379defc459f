'use strict';
// match:after returns a handle; t:cancel() is true when it cancelled a pending timer, false
// when the timer already ran or was cancelled (docs/LUA_API.md §3). Test mode: timers.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const h = require('./harness');

const { scriptsDir } = h;

const bearer = (s) => ({ authorization: `Bearer ${s.token}` });

describe('match:after handles', () => {
  let server;
  let dir;
  let p;
  before(async () => {
    dir = scriptsDir(['timers']);
    server = await h.startServer({ scripts: dir });
    p = await h.authed(server);
    const c = await server.http('POST', '/v1/matches', { mode: 'timers' }, bearer(p));
    assert.equal(c.status, 201, c.text);
    await p.ws.ok('match.join', { match_id: c.json.match_id });
  });
  after(async () => {
    if (p && p.ws.isOpen) await p.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const input = (payload) => p.ws.ok('match.input', payload);
  const stateWhere = (pred, ms = 5000) => p.ws.next((m) => m.type === 'match.state' && pred(m.payload), ms).then((m) => m.payload);
  const fired = (st, name) => st.fired.filter((n) => n === name).length;

  it('cancel before it fires: true, and it never runs (a twin timer due at the same time does)', async () => {
    await input({ action: 'after', name: 'a', ms: 300 });
    await input({ action: 'after', name: 'b', ms: 300 }); // due no earlier than a
    await input({ action: 'cancel', name: 'a' });
    const st = await stateWhere((s) => s.fired.includes('b'));
    assert.equal(fired(st, 'a'), 0, 'the cancelled timer did not run');
    assert.ok(st.results.includes('a=true'));
  });

  it('cancel after it fired: false; cancel twice: true then false', async () => {
    await input({ action: 'after', name: 'c', ms: 0 });
    await stateWhere((s) => s.fired.includes('c'));
    await input({ action: 'cancel', name: 'c' });
    let st = await stateWhere((s) => s.results.includes('c=false'));
    assert.equal(fired(st, 'c'), 1);

    await input({ action: 'after', name: 'd', ms: 60000 });
    await input({ action: 'cancel', name: 'd' });
    await input({ action: 'cancel', name: 'd' });
    st = await stateWhere((s) => s.results.includes('d=false'));
    const i = st.results.indexOf('d=true');
    assert.ok(i >= 0 && i < st.results.indexOf('d=false'), JSON.stringify(st.results));
  });

  it('cancel from inside a timer callback: a timer due in the same tick, and one far away', async () => {
    // e and f are due together; e cancels f. Whichever runs first, exactly one holds:
    // e cancelled f (true) and f never runs, or f ran first and the cancel is false.
    await input({ action: 'after', name: 'e', ms: 100, cancel: 'f' });
    await input({ action: 'after', name: 'f', ms: 100 });
    await input({ action: 'after', name: 'g', ms: 400 }); // g: f has had its chance by then
    let st = await stateWhere((s) => s.fired.includes('g'));
    assert.equal(fired(st, 'e'), 1);
    const cancelled = st.results.includes('f=true');
    assert.equal(cancelled || st.results.includes('f=false'), true, JSON.stringify(st.results));
    assert.equal(fired(st, 'f'), cancelled ? 0 : 1, JSON.stringify(st));

    // h is far off; i fires now and cancels it from its callback; a later cancel is false
    await input({ action: 'after', name: 'h', ms: 60000 });
    await input({ action: 'after', name: 'i', ms: 0, cancel: 'h' });
    st = await stateWhere((s) => s.results.includes('h=true'));
    await input({ action: 'cancel', name: 'h' });
    st = await stateWhere((s) => s.results.includes('h=false'));
    assert.equal(fired(st, 'h'), 0);
  });

  it('a dropped handle leaves its timer pending; the handle is a protected userdata', async () => {
    await input({ action: 'after', name: 'j', ms: 50 });
    await input({ action: 'after', name: 'j', ms: 100 }); // replaces (drops) the first handle
    const st = await stateWhere((s) => fired(s, 'j') === 2);
    assert.equal(fired(st, 'j'), 2);
    await input({ action: 'type' });
    const t = await stateWhere((s) => s.results.some((r) => r.startsWith('userdata')));
    assert.ok(t.results.includes('userdata:protected'), JSON.stringify(t.results));
  });

  it('a timer pending when the match ends is freed with it (no leak under ASan)', async () => {
    await input({ action: 'after', name: 'z', ms: 60000 });
    const id = (await server.http('GET', '/v1/matches?mode=timers', undefined, bearer(p))).json.matches[0].match_id;
    const end = await server.http('POST', `/v1/admin/matches/${id}/end`, undefined, { authorization: `Bearer ${server.adminToken}` });
    assert.equal(end.status, 200, end.text);
    await p.ws.next('match.finished', 3000);
  });
});
