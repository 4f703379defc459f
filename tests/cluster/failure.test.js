// Cluster failures (docs/CLUSTER.md): a node killed with SIGKILL is reported gone by the others
// within 10 s and its live matches are recorded as finished with reason "node_lost" (players
// told by a notification); while Redis is down every node keeps serving its own sessions and
// matches, cross-node work answers `unavailable` or falls back to the local node, /healthz fails
// after the grace; when Redis returns the nodes re-register and resubscribe within 5 s.
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
const bearer = (a) => ({ authorization: `Bearer ${a.token}` });

describe('cluster: a node is killed', () => {
  let c, alice;
  before(async () => {
    c = await ch.startCluster(3, { scripts, args: ['--auth-rate', '100000'] });
    await c.waitMembers(['node1', 'node2', 'node3']);
    alice = await h.authed(c.nodes[0], { device_id: 'cl-fail-alice' });
  });
  after(async () => {
    for (const n of c.nodes) if (n.running) await n.stop();
  });

  it('within 10 s the others report it gone and its matches as node_lost; its players are told', async () => {
    const m = await c.admin(c.nodes[0], 'POST', '/v1/admin/matches', { mode: 'sdktest', node_id: 'node3' });
    const id = m.json.match_id;
    const ws3 = await c.nodes[2].ws();
    assert.equal((await ws3.request('session.connect', { token: alice.token })).type, 'session.connected');
    assert.equal((await ws3.request('match.join', { match_id: id })).type, 'match.joined');
    const other = await c.admin(c.nodes[0], 'POST', '/v1/admin/matches', { mode: 'sdktest', node_id: 'node2' });
    const t0 = Date.now();
    c.nodes[2].kill();
    await c.nodes[2].exited;
    await c.waitMembers(['node1', 'node2'], 10000);
    await h.waitFor('match recorded as node_lost', async () => {
      const r = await c.nodes[1].http('GET', `/v1/matches/${id}`, null, bearer(alice));
      return r.status === 200 && r.json.status === 'finished' && r.json.reason === 'node_lost';
    }, Math.max(1000, 10000 - (Date.now() - t0)), 200);
    assert.ok(Date.now() - t0 < 10000, `took ${Date.now() - t0} ms`);
    const n = await alice.ws.next((x) => x.type === 'notification.new' && x.payload.type === 'moonbase.match_lost', 5000);
    assert.equal(n.payload.content.match_id, id);
    assert.equal(n.payload.content.node_id, 'node3');
    // the rest goes on: the list has node2's match and not node3's; placement avoids node3
    const list = await c.nodes[0].http('GET', '/v1/matches', null, bearer(alice));
    const ids = list.json.matches.map((x) => x.match_id);
    assert.ok(ids.includes(other.json.match_id));
    assert.ok(!ids.includes(id));
    const placed = await c.nodes[0].http('POST', '/v1/matches', { mode: 'sdktest' }, bearer(alice));
    assert.equal(placed.status, 201);
    assert.notEqual(placed.json.node_id, 'node3');
    // exactly one node did the recording
    const writers = c.nodes.slice(0, 2).filter((s) => /event=cluster_node_lost node=node3/.test(s.logs()));
    assert.equal(writers.length, 1);
  });
});

describe('cluster: Redis stops and comes back', () => {
  let c, a1, b1, c2;
  before(async () => {
    c = await ch.startCluster(2, { scripts, args: ['--auth-rate', '100000', '--redis-grace-ms', '1500'] });
    await c.waitMembers(['node1', 'node2']);
    a1 = await h.authed(c.nodes[0], { device_id: 'cl-redis-a1' });
    b1 = await h.authed(c.nodes[0], { device_id: 'cl-redis-b1' });
    c2 = await h.authed(c.nodes[1], { device_id: 'cl-redis-c2' });
    for (const p of [a1, b1, c2]) await p.ws.ok('chat.join', { channel_id: 'cl-redis-room' });
  });
  after(async () => {
    for (const n of c.nodes) if (n.running) await n.stop();
  });

  it('local work goes on, remote work is unavailable or local, /healthz fails after the grace', async () => {
    const remote = await c.admin(c.nodes[0], 'POST', '/v1/admin/matches', { mode: 'sdktest', node_id: 'node2' });
    assert.equal(remote.status, 201);
    await c.redis.stop();
    await h.waitFor('node1 sees Redis down', async () => (await c.admin(c.nodes[0], 'GET', '/v1/cluster')).json.redis === 'unreachable', 5000);
    // chat between two sockets of node1 still works (PostgreSQL is the record)
    const sent = await a1.ws.ok('chat.send', { channel_id: 'cl-redis-room', content: 'still here' });
    const got = await b1.ws.next((x) => x.type === 'chat.message' && x.payload.content === 'still here', 5000);
    assert.equal(got.payload.message_id, sent.message_id);
    // placement falls back to this node
    const placed = await c.nodes[0].http('POST', '/v1/matches', { mode: 'sdktest' }, bearer(a1));
    assert.equal(placed.status, 201, placed.text);
    assert.equal(placed.json.node_id, 'node1');
    // and that match is playable here
    assert.equal((await a1.ws.request('match.join', { match_id: placed.json.match_id })).type, 'match.joined');
    // a join of a match this node does not host cannot be routed: unavailable
    const j = await b1.ws.request('match.join', { match_id: remote.json.match_id });
    assert.equal(j.type, 'error');
    assert.equal(j.payload.code, 'unavailable');
    // a pinned placement elsewhere is refused (not silently placed here)
    const pinned = await c.admin(c.nodes[0], 'POST', '/v1/admin/matches', { mode: 'sdktest', node_id: 'node2' });
    assert.ok(pinned.status === 503 || pinned.status === 404, `${pinned.status} ${pinned.text}`);
    // /healthz: 503 once the grace (1.5 s) has passed
    await h.waitFor('/healthz fails after the grace', async () => {
      const r = await c.nodes[1].http('GET', '/healthz');
      return r.status === 503 && r.json.redis === 'unreachable';
    }, 6000, 200);
  });

  it('Redis returns: within 5 s the nodes are registered and subscribed again', async () => {
    const t0 = Date.now();
    c.redis = await ch.startRedis({ port: c.redis.port });
    await c.waitMembers(['node1', 'node2'], 5000);
    for (const n of c.nodes) {
      await h.waitFor('healthz ok', async () => (await n.http('GET', '/healthz')).status === 200, 5000 - (Date.now() - t0), 100);
    }
    assert.ok(Date.now() - t0 < 5500, `took ${Date.now() - t0} ms`);
    // cross-node chat works again (node2 resubscribed)
    await h.waitFor('cross-node chat again', async () => {
      const s = await a1.ws.ok('chat.send', { channel_id: 'cl-redis-room', content: `back ${Date.now()}` });
      try {
        await c2.ws.next((x) => x.type === 'chat.message' && x.payload.message_id === s.message_id, 500);
        return true;
      } catch {
        return false;
      }
    }, 5000, 10);
    // and the match directory was rebuilt from the nodes' own matches
    const list = await c.nodes[1].http('GET', '/v1/matches', null, bearer(c2));
    assert.ok(list.json.matches.some((m) => m.node_id === 'node1'), JSON.stringify(list.json));
  });
});
