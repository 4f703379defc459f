// Cluster membership (docs/CLUSTER.md): three real nodes on one real redis-server register,
// see each other in GET /v1/cluster, report Redis in /healthz; a token from one node works on
// every node; a node that stops gracefully leaves the list at once.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('../integration/harness');
const ch = require('./cluster_harness');

describe('cluster membership', () => {
  let c;
  before(async () => { c = await ch.startCluster(3); });
  after(async () => { for (const n of c.nodes) if (n.running) await n.stop(); });

  it('every node lists the three nodes with url, load and heartbeat', async () => {
    await c.waitMembers(['node1', 'node2', 'node3']);
    const r = await c.admin(c.nodes[1], 'GET', '/v1/cluster');
    assert.equal(r.status, 200);
    assert.equal(r.json.node_id, 'node2');
    const byId = Object.fromEntries(r.json.nodes.map((n) => [n.node_id, n]));
    for (const node of c.nodes) {
      const n = byId[node.nodeId];
      assert.equal(n.url, `http://127.0.0.1:${node.port}`);
      assert.equal(typeof n.sessions, 'number');
      assert.equal(typeof n.matches, 'number');
      assert.ok(n.started_at > Date.now() - 120000 && n.started_at <= Date.now() + 1000, `started_at ${n.started_at}`);
      assert.ok(n.last_seen >= n.started_at && n.last_seen > Date.now() - 10000, `last_seen ${n.last_seen}`);
    }
  });

  it('needs the admin token', async () => {
    const r = await c.nodes[0].http('GET', '/v1/cluster');
    assert.equal(r.status, 401);
  });

  it('/healthz says Redis is reachable', async () => {
    const r = await c.nodes[2].http('GET', '/healthz');
    assert.equal(r.status, 200);
    assert.equal(r.json.redis, 'ok');
  });

  it('a session token from one node is accepted by every node', async () => {
    const a = await h.authed(c.nodes[0], { device_id: 'member-token-1' });
    for (const node of c.nodes.slice(1)) {
      const ws = await node.ws();
      const reply = await ws.request('session.connect', { token: a.token });
      assert.equal(reply.type, 'session.connected');
      assert.equal(reply.payload.player_id, a.player_id);
      await ws.close();
    }
    // and the sessions count of node1 shows in the list within a heartbeat or two
    await h.waitFor('node1 reports 1 session', async () => {
      const r = await c.admin(c.nodes[2], 'GET', '/v1/cluster');
      return r.json.nodes.find((n) => n.node_id === 'node1').sessions === 1;
    }, 5000);
    await a.ws.close();
  });

  it('a node that stops leaves the list without waiting for its registration to expire', async () => {
    const t0 = Date.now();
    await c.nodes[2].stop();
    await c.waitMembers(['node1', 'node2'], 4000);
    assert.ok(Date.now() - t0 < 4500);
  });

  it('a bad --redis-url stops the start with a clear message', async () => {
    await assert.rejects(h.startServer({ args: ['--redis-url', 'http://127.0.0.1:1'], startTimeoutMs: 8000 }),
      (e) => /redis/.test(String(e.message)));
  });
});
