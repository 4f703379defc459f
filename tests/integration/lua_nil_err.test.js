'use strict';
// The Lua failure convention (docs/DEVELOPING.md "Conventions", docs/LUA_API.md §3): match
// methods return true on success and nil, "message" on an expected failure (never false,
// "message"); join_attempt refuses with nil, "reason" and still with false, "reason".
// Test mode: nilerr.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const h = require('./harness');

const bearer = (s) => ({ authorization: `Bearer ${s.token}` });

describe('Lua: nil, "message" for expected failures', () => {
  let server;
  let dir;
  const open = [];
  const player = async () => {
    const s = await h.authed(server);
    open.push(s);
    return s;
  };
  before(async () => {
    dir = h.scriptsDir(['nilerr']);
    server = await h.startServer({ scripts: dir });
  });
  after(async () => {
    for (const s of open) if (s.ws.isOpen) await s.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  const create = async (p) => {
    const r = await server.http('POST', '/v1/matches', { mode: 'nilerr', params: {} }, bearer(p));
    assert.equal(r.status, 201, r.text);
    return r.json.match_id;
  };

  it('match:send / match:kick / match:start: true, or nil and the message', async () => {
    const p = await player();
    const match_id = await create(p);
    await p.ws.ok('match.join', { match_id });
    await p.ws.next('match.started', 3000); // match:start() on a running match is the failure probed
    p.ws.send({ type: 'match.input', payload: { action: 'probe' } });
    const probe = (await p.ws.next((m) => m.type === 'match.message' && m.payload.subject === 'probe', 3000)).payload
      .data;
    assert.deepEqual(probe.send_absent, { type: 'nil', message: 'not in this match' });
    assert.deepEqual(probe.kick_absent, { type: 'nil', message: 'not in this match' });
    assert.deepEqual(probe.start_running, { type: 'nil', message: 'already started' });
    assert.deepEqual(probe.send_self, { type: 'boolean', value: true, message: '(none)' });
  });

  it('join_attempt refuses with nil, "reason" and with false, "reason"; the client gets forbidden', async () => {
    const owner = await player();
    const match_id = await create(owner);
    for (const how of ['nil', 'false']) {
      const p = await player();
      const reply = await p.ws.request('match.join', { match_id, metadata: { refuse: how } });
      assert.equal(reply.type, 'error', JSON.stringify(reply));
      assert.equal(reply.payload.code, 'forbidden');
      assert.equal(reply.payload.message, `refused with ${how}`);
    }
    // refused players took no seat: a plain join still gets in
    const ok = await owner.ws.request('match.join', { match_id });
    assert.equal(ok.type, 'match.joined', JSON.stringify(ok));
    assert.equal(ok.payload.players.length, 1);
  });
});
