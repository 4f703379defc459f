// Cross-node delivery through Redis pub/sub (docs/CLUSTER.md): chat in rooms, DMs and match
// channels reaches member sockets on every node, once each and in the sender's order;
// notifications reach the player's sockets wherever they are; an admin kick closes them on
// every node.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../integration/harness');
const ch = require('./cluster_harness');

const scripts = h.scriptsDir([], {
  'modes/sdktest.lua': fs.readFileSync(path.join(h.REPO_ROOT, 'sdk/js/test/fixtures/modes/sdktest.lua'), 'utf8'),
  // the repo's server.lua plus an RPC that notifies another player from Lua (moonbase.notify)
  'server.lua': `${fs.readFileSync(path.join(h.REPO_ROOT, 'scripts/server.lua'), 'utf8')}
moonbase.rpc("cl_notify", function(ctx, payload)
  local ok, err = moonbase.notify(payload.to, "cl.lua", "from lua", { by = ctx.player_id })
  return { ok = ok == true, err = err }
end)
`,
});

describe('cluster delivery', () => {
  let c, alice, bob, carol;
  before(async () => {
    c = await ch.startCluster(3, { scripts, args: ['--auth-rate', '100000', '--chat-rate', '1000'] });
    await c.waitMembers(['node1', 'node2', 'node3']);
    alice = await h.authed(c.nodes[0], { device_id: 'cl-del-alice' });
    bob = await h.authed(c.nodes[1], { device_id: 'cl-del-bob' });
    carol = await h.authed(c.nodes[2], { device_id: 'cl-del-carol' });
  });
  after(async () => {
    fs.rmSync(scripts, { recursive: true, force: true });
    for (const n of c.nodes) if (n.running) await n.stop();
  });

  it('room chat: every member on every node gets each message once, in order', async () => {
    for (const p of [alice, bob, carol]) await p.ws.ok('chat.join', { channel_id: 'cl-lobby' });
    const N = 20;
    const sent = [];
    for (let i = 0; i < N; i++) sent.push((await alice.ws.ok('chat.send', { channel_id: 'cl-lobby', content: `m${i}` })).message_id);
    for (const p of [bob, carol]) {
      const got = [];
      for (let i = 0; i < N; i++) got.push(await p.ws.next((m) => m.type === 'chat.message' && m.payload.channel_id === 'cl-lobby', 5000));
      assert.deepEqual(got.map((m) => m.payload.content), sent.map((_, i) => `m${i}`));
      assert.deepEqual(got.map((m) => m.payload.message_id), sent);
      assert.equal(got[0].payload.sender_id, alice.player_id);
      await h.roundTrip(p.ws);
      await p.ws.expectNone((m) => m.type === 'chat.message' && m.payload.channel_id === 'cl-lobby', 300); // no duplicates
    }
    // and the sender's own socket got exactly its replies, nothing twice
    await h.roundTrip(alice.ws);
    await alice.ws.expectNone((m) => m.type === 'chat.message' && m.payload.channel_id === 'cl-lobby', 300);
  });

  it('a DM crosses nodes', async () => {
    await bob.ws.ok('chat.join', { channel_id: `dm:${alice.player_id}` });
    await alice.ws.ok('chat.join', { channel_id: `dm:${bob.player_id}` });
    const sent = await alice.ws.ok('chat.send', { channel_id: `dm:${bob.player_id}`, content: 'psst' });
    const got = await bob.ws.next((m) => m.type === 'chat.message' && m.payload.content === 'psst', 5000);
    assert.equal(got.payload.channel_id, `dm:${alice.player_id}`);
    assert.equal(got.payload.message_id, sent.message_id);
  });

  it('a match channel: the SDK joins it on the match node, messages reach its first socket\'s listeners', async () => {
    const { Client } = await import('../../sdk/js/src/moonbase-client.js');
    const WebSocket = require('ws');
    const client = new Client(c.nodes[0].baseUrl, { WebSocket });
    await client.authenticateDevice('cl-del-dave');
    const socket = client.socket({ heartbeatMs: 500, requestTimeoutMs: 5000, reconnect: false });
    try {
      await socket.connect();
      const m = await c.admin(c.nodes[0], 'POST', '/v1/admin/matches', { mode: 'sdktest', node_id: 'node3' });
      const id = m.json.match_id;
      await socket.joinMatch(id);
      await socket.joinChat(`match:${id}`);
      assert.equal((await carol.ws.request('match.join', { match_id: id })).type, 'match.joined');
      await carol.ws.ok('chat.join', { channel_id: `match:${id}` });
      const heard = new Promise((resolve) => socket.on('chat.message', (p) => { if (p.content === 'gg') resolve(p); }));
      await carol.ws.ok('chat.send', { channel_id: `match:${id}`, content: 'gg' });
      const p = await h.withTimeout(heard, 5000, 'match chat on the SDK socket');
      assert.equal(p.sender_id, carol.player_id);
      const mine = await socket.sendChat(`match:${id}`, 'wp');
      assert.equal(mine.content, 'wp');
      const back = await carol.ws.next((x) => x.type === 'chat.message' && x.payload.content === 'wp', 5000);
      assert.equal(back.payload.channel_id, `match:${id}`);
      await carol.ws.request('match.leave', {});
    } finally {
      socket.close();
    }
  });

  it('a notification created on one node reaches the player on another', async () => {
    const r = await c.admin(c.nodes[0], 'POST', '/v1/admin/notifications', { player_id: bob.player_id, type: 'cl.test', subject: 'hello across' });
    assert.ok(r.status === 200 || r.status === 201, r.text);
    const n = await bob.ws.next('notification.new', 5000);
    assert.equal(n.payload.subject, 'hello across');
    assert.equal(n.payload.type, 'cl.test');
  });

  it('moonbase.notify on one node reaches the player on another', async () => {
    const r = await c.nodes[0].http('POST', '/v1/rpc/cl_notify', { to: bob.player_id }, { authorization: `Bearer ${alice.token}` });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ok, true, r.text);
    const n = await bob.ws.next((x) => x.type === 'notification.new' && x.payload.type === 'cl.lua', 5000);
    assert.equal(n.payload.content.by, alice.player_id);
  });

  it('a friend request made on one node is a notification on the other', async () => {
    const r = await c.nodes[2].http('POST', '/v1/friends', { player_id: bob.player_id }, { authorization: `Bearer ${carol.token}` });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.state, 'invite_sent');
    const n = await bob.ws.next((x) => x.type === 'notification.new' && x.payload.type === 'friend_request', 5000);
    assert.equal(n.payload.content.from_player_id, carol.player_id);
  });

  it('an admin kick on one node closes the player\'s sockets on the others', async () => {
    const erin = await h.authed(c.nodes[2], { device_id: 'cl-del-erin' });
    const second = await c.nodes[1].ws();
    assert.equal((await second.request('session.connect', { token: erin.token })).type, 'session.connected');
    const r = await c.admin(c.nodes[0], 'POST', `/v1/admin/players/${erin.player_id}/kick`);
    assert.equal(r.status, 200);
    assert.equal(r.json.closed_sockets, 0);
    assert.equal(r.json.other_nodes_told, true);
    for (const ws of [erin.ws, second]) {
      const closed = await ws.waitClosed(5000);
      assert.equal(closed.code, 4001);
    }
  });
});
