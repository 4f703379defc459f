// Presence across nodes (docs/CLUSTER.md): friends on different nodes see each other's presence
// changes; a player is online while any node has a socket of theirs (closing one of two sockets
// on different nodes tells nobody "offline"); GET /v1/presence on any node shows them; a new
// friendship made on another node shows the friend's presence; a node that stops or is killed
// takes its players offline for their friends elsewhere.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('../integration/harness');
const ch = require('./cluster_harness');

const bearer = (p) => ({ authorization: `Bearer ${p.token}` });
const about = (pid, status) => (m) => m.type === 'presence.changed' && m.payload.player_id === pid && (!status || m.payload.status === status);

async function befriend(na, a, nb, b) {
  assert.equal((await na.http('POST', '/v1/friends', { player_id: b.player_id }, bearer(a))).json.state, 'invite_sent');
  assert.equal((await nb.http('POST', '/v1/friends', { player_id: a.player_id }, bearer(b))).json.state, 'friend');
}

describe('cluster presence', () => {
  let c, bob;
  before(async () => {
    c = await ch.startCluster(3, { args: ['--auth-rate', '100000'] });
    await c.waitMembers(['node1', 'node2', 'node3']);
    bob = await h.authed(c.nodes[1], { device_id: 'cl-pres-bob' });
  });
  after(async () => {
    for (const n of c.nodes) if (n.running) await n.stop();
  });

  it('online, status changes and offline cross nodes; online while any node has a socket', async () => {
    // alice signs in on node1 and becomes bob's friend (the request on node1, the accept on node2)
    const alice = await h.authed(c.nodes[0], { device_id: 'cl-pres-alice' });
    await befriend(c.nodes[0], alice, c.nodes[1], bob);
    // the new friend learns alice's presence although she is on another node
    await bob.ws.next(about(alice.player_id, 'online'), 5000);
    await alice.ws.ok('presence.update', { status: 'in lobby', metadata: { map: 'jungle' } });
    const upd = await bob.ws.next(about(alice.player_id, 'in lobby'), 5000);
    assert.deepEqual(upd.payload.metadata, { map: 'jungle' });
    const got = await c.nodes[1].http('GET', `/v1/presence?ids=${alice.player_id}`, null, bearer(bob));
    assert.equal(got.json.presences[0].status, 'in lobby');
    // a second socket of alice on node3, then her node1 socket closes: still online
    const second = await c.nodes[2].ws();
    assert.equal((await second.request('session.connect', { token: alice.token })).type, 'session.connected');
    await h.closeSession(c.nodes[0], alice.ws, alice.player_id);
    // the grace is 2 s: 3.5 s of nothing is the point here
    await bob.ws.expectNone(about(alice.player_id, 'offline'), 3500);
    // her last socket closes: offline after the grace
    await second.close();
    await bob.ws.next(about(alice.player_id, 'offline'), 8000);
    const gone = await c.nodes[1].http('GET', `/v1/presence?ids=${alice.player_id}`, null, bearer(bob));
    assert.equal(gone.json.presences[0].status, 'offline');
  });

  it('a node killed with SIGKILL takes its players offline for their friends elsewhere', async () => {
    const carol = await h.authed(c.nodes[2], { device_id: 'cl-pres-carol' });
    await befriend(c.nodes[2], carol, c.nodes[1], bob);
    await bob.ws.next(about(carol.player_id, 'online'), 5000);
    c.nodes[2].kill();
    await c.nodes[2].exited;
    await bob.ws.next(about(carol.player_id, 'offline'), 10000);
  });
});
