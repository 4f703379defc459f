'use strict';
// The demo's arena mode keeps each player's wins in storage (docs/STORAGE.md, scripts/modes/
// arena.lua): join reads stats/wins through a callback, the winner's count goes up when the match
// finishes, and match.finished arrives only after that write committed; players read it over REST.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const bearer = (x) => ({ authorization: `Bearer ${x.token}` });

describe('arena wins in storage', () => {
  let server;
  let a;
  let b;
  before(async () => {
    server = await h.startServer();
    a = await h.authed(server, { device_id: `std-a-${Date.now()}` });
    b = await h.authed(server, { device_id: `std-b-${Date.now()}` });
  });
  after(async () => {
    for (const x of [a, b]) if (x) await x.ws.close();
    if (server) assert.equal(await server.stop(), 0);
  });

  const wins = async (p, who) => {
    const r = await server.http('POST', '/v1/storage/read', { ids: [{ collection: 'stats', key: 'wins', owner_id: who.player_id }] }, bearer(p));
    assert.equal(r.status, 200, r.text);
    return r.json.objects.length ? r.json.objects[0] : null;
  };

  // a and b play; b leaves, so a is the last one standing and wins
  const play = async () => {
    const c = await server.http('POST', '/v1/matches', { mode: 'arena' }, bearer(a));
    assert.equal(c.status, 201, c.text);
    const id = c.json.match_id;
    await a.ws.ok('match.join', { match_id: id });
    await b.ws.ok('match.join', { match_id: id });
    await a.ws.next('match.started');
    // the join reads answer at a later tick: let a few ticks pass
    const first = await a.ws.next('match.state');
    await a.ws.next((m) => m.type === 'match.state' && m.payload.tick >= first.payload.tick + 5);
    await b.ws.ok('match.leave', { match_id: id });
    const fin = await a.ws.next('match.finished', 5000);
    assert.equal(fin.payload.result.winner, a.player_id);
    // committed before match.finished was sent: read at once
    return wins(b, a);
  };

  it("the winner's stats/wins goes up by one per match; it is public and server-written", async () => {
    assert.equal(await wins(a, a), null);
    const one = await play();
    assert.deepEqual(one.value, { wins: 1 });
    assert.equal(one.permission_read, 'public');
    assert.equal(one.permission_write, 'none');
    const two = await play();
    assert.deepEqual(two.value, { wins: 2 });
    assert.equal(await wins(b, b), null);
    // the player cannot raise it
    const cheat = await server.http('PUT', '/v1/storage', { objects: [{ collection: 'stats', key: 'wins', value: { wins: 99 } }] }, bearer(a));
    assert.equal(cheat.status, 403);
  });
});
