// Cluster matches (docs/CLUSTER.md): POST /v1/matches places on the least loaded node (or the
// admin's pinned node), GET /v1/matches and /v1/matches/{id} answer for the whole cluster with
// node_id and url, match.join on another node is answered with match.redirect (same cid), and the
// JS SDK follows the redirect and plays on the match's node while chat stays on its first socket.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../integration/harness');
const ch = require('./cluster_harness');

const scripts = h.scriptsDir([], {
  'modes/sdktest.lua': fs.readFileSync(path.join(h.REPO_ROOT, 'sdk/js/test/fixtures/modes/sdktest.lua'), 'utf8'),
});

describe('cluster matches', () => {
  let c, alice;
  before(async () => {
    c = await ch.startCluster(3, { scripts, args: ['--auth-rate', '100000'] });
    await c.waitMembers(['node1', 'node2', 'node3']);
    alice = await h.authed(c.nodes[0], { device_id: 'cl-match-alice' });
  });
  after(async () => {
    fs.rmSync(scripts, { recursive: true, force: true });
    for (const n of c.nodes) if (n.running) await n.stop();
  });
  const bearer = (a) => ({ authorization: `Bearer ${a.token}` });
  const nodeOf = (id) => c.nodes.find((n) => n.nodeId === id);

  it('placement spreads matches over the nodes (fewest matches first) and the reply names the node', async () => {
    const placed = [];
    for (let i = 0; i < 3; i++) {
      const r = await c.nodes[0].http('POST', '/v1/matches', { mode: 'sdktest' }, bearer(alice));
      assert.equal(r.status, 201, r.text);
      assert.match(r.json.match_id, /^[0-9a-f-]{36}$/);
      assert.equal(r.json.url, `http://127.0.0.1:${nodeOf(r.json.node_id).port}`);
      placed.push(r.json.node_id);
      // the next placement must see this one: wait until node1 knows the new load
      await h.waitFor('load reported', async () => {
        const cl = await c.admin(c.nodes[0], 'GET', '/v1/cluster');
        return cl.json.nodes.reduce((s, n) => s + n.matches, 0) === i + 1;
      }, 5000);
    }
    assert.deepEqual([...placed].sort(), ['node1', 'node2', 'node3']);
  });

  it('GET /v1/matches on any node lists every node\'s matches with node_id and url', async () => {
    const r = await c.nodes[2].http('GET', '/v1/matches?mode=sdktest', null, bearer(alice));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.matches.length, 3);
    assert.deepEqual(r.json.matches.map((m) => m.node_id).sort(), ['node1', 'node2', 'node3']);
    for (const m of r.json.matches) assert.equal(m.url, `http://127.0.0.1:${nodeOf(m.node_id).port}`);
    const limited = await c.nodes[1].http('GET', '/v1/matches?limit=2', null, bearer(alice));
    assert.equal(limited.json.matches.length, 2);
    const bad = await c.nodes[1].http('GET', '/v1/matches?limit=0', null, bearer(alice));
    assert.equal(bad.status, 400);
  });

  it('GET /v1/matches/{id} on any node finds a match live on another node', async () => {
    const list = (await c.nodes[0].http('GET', '/v1/matches', null, bearer(alice))).json.matches;
    const onNode3 = list.find((m) => m.node_id === 'node3');
    const r = await c.nodes[0].http('GET', `/v1/matches/${onNode3.match_id}`, null, bearer(alice));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.match_id, onNode3.match_id);
    assert.equal(r.json.node_id, 'node3');
    assert.equal(r.json.status, 'waiting');
    const missing = await c.nodes[0].http('GET', '/v1/matches/00000000-0000-4000-8000-000000000000', null, bearer(alice));
    assert.equal(missing.status, 404);
  });

  it('the admin pins a match to a node; a player may not', async () => {
    const r = await c.admin(c.nodes[0], 'POST', '/v1/admin/matches', { mode: 'sdktest', node_id: 'node2' });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.node_id, 'node2');
    assert.equal(typeof r.json.seed, 'number');
    const again = await c.nodes[1].http('GET', `/v1/matches/${r.json.match_id}`, null, bearer(alice));
    assert.equal(again.json.node_id, 'node2');
    const nope = await c.nodes[0].http('POST', '/v1/matches', { mode: 'sdktest', node_id: 'node2' }, bearer(alice));
    assert.equal(nope.status, 403);
    const gone = await c.admin(c.nodes[0], 'POST', '/v1/admin/matches', { mode: 'sdktest', node_id: 'node9' });
    assert.equal(gone.status, 404);
    const badMode = await c.admin(c.nodes[0], 'POST', '/v1/admin/matches', { mode: 'nosuchmode', node_id: 'node3' });
    assert.equal(badMode.status, 404, badMode.text);
  });

  it('match.join on a node that does not host the match: match.redirect with the same cid, then play there', async () => {
    const r = await c.admin(c.nodes[0], 'POST', '/v1/admin/matches', { mode: 'sdktest', node_id: 'node3' });
    const id = r.json.match_id;
    const reply = await alice.ws.request('match.join', { match_id: id }, { cid: 'join-1' });
    assert.equal(reply.type, 'match.redirect');
    assert.equal(reply.cid, 'join-1');
    assert.deepEqual(reply.payload, { match_id: id, node_id: 'node3', url: `http://127.0.0.1:${c.nodes[2].port}` });
    // the client goes there with the same token
    const ws3 = await c.nodes[2].ws();
    assert.equal((await ws3.request('session.connect', { token: alice.token })).type, 'session.connected');
    const joined = await ws3.request('match.join', { match_id: id });
    assert.equal(joined.type, 'match.joined', JSON.stringify(joined));
    await ws3.next('match.state', 5000);
    // an unknown match is still not_found
    const none = await alice.ws.request('match.join', { match_id: '00000000-0000-4000-8000-000000000001' });
    assert.equal(none.type, 'error');
    assert.equal(none.payload.code, 'not_found');
    await ws3.request('match.leave', {});
    await ws3.close();
  });

  it('matchmaker.matched carries the node and url of the match', async () => {
    const p1 = await h.authed(c.nodes[1], { device_id: 'cl-mm-1' });
    const p2 = await h.authed(c.nodes[1], { device_id: 'cl-mm-2' });
    for (const p of [p1, p2]) await p.ws.ok('matchmaker.add', { mode: 'sdktest', properties: { room: 'cl-mm' } });
    const m1 = await p1.ws.next('matchmaker.matched', 5000);
    const m2 = await p2.ws.next('matchmaker.matched', 5000);
    assert.equal(m1.payload.match_id, m2.payload.match_id);
    // placed like any match (least loaded node: docs/CLUSTER.md "Matchmaker"), not where the sockets are
    assert.equal(m1.payload.url, `http://127.0.0.1:${nodeOf(m1.payload.node_id).port}`);
    const ws = await nodeOf(m1.payload.node_id).ws();
    assert.equal((await ws.request('session.connect', { token: p1.token })).type, 'session.connected');
    assert.equal((await ws.request('match.join', { match_id: m1.payload.match_id })).type, 'match.joined');
    await ws.close();
  });

  it('the JS SDK follows the redirect: match events and inputs on the match node, chat on the first socket', async () => {
    const { Client } = await import('../../sdk/js/src/moonbase-client.js');
    const WebSocket = require('ws');
    const client = new Client(c.nodes[0].baseUrl, { WebSocket });
    await client.authenticateDevice('cl-sdk-bob');
    const socket = client.socket({ heartbeatMs: 500, requestTimeoutMs: 5000, reconnect: false });
    try {
      await socket.connect();
      const r = await c.admin(c.nodes[0], 'POST', '/v1/admin/matches', { mode: 'sdktest', node_id: 'node2' });
      const joined = await socket.joinMatch(r.json.match_id);
      assert.equal(joined.match_id, r.json.match_id);
      assert.equal(socket.match.node.node_id, 'node2');
      await socket.nextMatchEvent('match.started', { timeoutMs: 5000 });
      const ack = await socket.sendInput({ action: 'say', text: 'hi from node1' }, { ack: true });
      assert.equal(ack.match_id, r.json.match_id);
      const said = await socket.nextMatchEvent('match.message', { timeoutMs: 5000 });
      assert.ok(JSON.stringify(said).includes('hi from node1'), JSON.stringify(said));
      // node2 sees bob's session (the match socket), node1 keeps the first one
      const m = await c.nodes[1].http('GET', `/v1/matches/${r.json.match_id}`, null, bearer(alice));
      assert.equal(m.json.player_count, 1);
      const left = await socket.leaveMatch();
      assert.equal(left.match_id, r.json.match_id);
      assert.equal(socket._matchSocket, null);
    } finally {
      socket.close();
    }
  });
});
