// The cluster's matchmaker with a large pool (docs/CLUSTER.md "Matchmaker"): tickets written into
// Redis the way tests/bench/cluster_matchmaker.js --pool does, on behalf of a node that is not
// running ("ghost"), so every node mirrors them and no node removes them.
// 1. A socket closing walks its player's tickets, not the pool: with 3,000 mirrored tickets of
//    another node, only the tickets this node added for that player go (the same player's
//    ticket of another node stays); a ticket matched and queued again goes with its socket too.
// 2. Taking the lease reads the pool with HSCAN in batches: 2,500 tickets, the pass owner killed,
//    the survivor reads them in several batches (event=matchmaker_pool_read batches >= 2), drops
//    exactly the one ticket removed from Redis behind its back (stale=1), mirrors the rest, and
//    its passes run (two new tickets are matched, on the survivor, although placement first picks
//    the dead node, still listed until its registration expires).
'use strict';
const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const h = require('../integration/harness');
const ch = require('./cluster_harness');

// mmwait, mmother: pairs of one room, never smaller, no timeout (cluster_harness.js waitingMode)
const scripts = h.scriptsDir([], Object.fromEntries([ch.waitingMode('mmwait'), ch.waitingMode('mmother')]));
after(() => fs.rmSync(scripts, { recursive: true, force: true }));

/** Pipelined commands on one connection; resolves once every reply (one line each) came. */
function redisPipe(port, cmds) {
  const text = cmds.map((a) => `*${a.length}\r\n` + a.map((x) => `$${Buffer.byteLength(String(x))}\r\n${x}\r\n`).join('')).join('');
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '', replies = 0;
    s.on('connect', () => s.write(text));
    s.on('data', (d) => {
      buf += d;
      const lines = buf.split('\r\n');
      buf = lines.pop();
      for (const l of lines) {
        if (l.startsWith('-')) { s.destroy(); reject(new Error(`redis: ${l}`)); return; }
        replies++;
      }
      if (replies >= cmds.length) { s.end(); resolve(); }
    });
    s.on('error', reject);
    setTimeout(() => { s.destroy(); reject(new Error(`redis: ${replies} of ${cmds.length} replies`)); }, 20000).unref();
  });
}
const one = async (port, ...a) => {
  let out;
  await new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => s.write(`*${a.length}\r\n` + a.map((x) => `$${Buffer.byteLength(String(x))}\r\n${x}\r\n`).join('')));
    s.on('data', (d) => { out = String(d); s.end(); resolve(); });
    s.on('error', reject);
  });
  const n = /^:(\d+)/.exec(out);
  return n ? Number(n[1]) : out;
};

/** A ticket as the cluster stores it (modules/matchmaker/cluster_mm.c). */
const ticketCmd = (m, t) => ['HSET', `mb:mm:tickets:${m}`, t.ticket_id, JSON.stringify({
  ticket_id: t.ticket_id, node_id: t.node_id || 'ghost', player_id: t.player_id || crypto.randomUUID(),
  username: 'ghost', mode: m, properties: t.properties, created_at: Date.now(),
})];
const ghostPool = (m, n, prefix) => Array.from({ length: n }, (_, i) => ({ ticket_id: crypto.randomUUID(), properties: { room: `${prefix}${i}` } }))
  .map((t) => ticketCmd(m, t)).concat([['SADD', 'mb:mm:modes', m]]);

describe('cluster matchmaker with a large pool', () => {
  const open = [];
  let c;
  const bearer = (a) => ({ authorization: `Bearer ${a.token}` });
  const stats = async (node, who) => {
    const r = await node.http('GET', '/v1/matchmaker/stats', undefined, bearer(who));
    assert.equal(r.status, 200, r.text);
    return r.json;
  };
  const player = async (node) => {
    const p = await h.authed(node);
    open.push(p);
    return p;
  };
  after(async () => {
    for (const p of open) if (p.ws.isOpen) await p.ws.close().catch(() => {});
    if (c) for (const n of c.nodes) if (n.running) await n.stop();
  });

  it('a closing socket takes only its player\'s tickets of this node, among 3,000 mirrored ones of another node', async () => {
    const redis = await ch.startRedis();
    const N = 3000;
    await redisPipe(redis.port, ghostPool('mmwait', N, 'g'));
    c = await ch.startCluster(1, { redis, scripts, args: ['--auth-rate', '100000'] });
    const node = c.nodes[0];
    const a = await player(node), b = await player(node);
    await h.waitFor(`node1 mirrors ${N}`, async () => (await stats(node, a)).modes.mmwait?.tickets === N, 15000, 100);
    // a's ticket of another node (mode mmother), then a's and b's tickets on this node
    const ghostOfA = crypto.randomUUID();
    await redisPipe(redis.port, [ticketCmd('mmother', { ticket_id: ghostOfA, player_id: a.player_id, properties: { room: 'x' } }),
      ['SADD', 'mb:mm:modes', 'mmother']]);
    const ta = await a.ws.ok('matchmaker.add', { mode: 'mmwait', properties: { room: 'a' } });
    const tb = await b.ws.ok('matchmaker.add', { mode: 'mmwait', properties: { room: 'b' } });
    await h.waitFor('both in Redis', async () => (await one(redis.port, 'HLEN', 'mb:mm:tickets:mmwait')) === N + 2, 5000, 50);
    // the ghost ticket of a is mirrored once the pool of mmother is read (next lease tick: at most 1 s)
    await h.waitFor('mmother mirrored', async () => (await stats(node, b)).modes.mmother?.tickets === 1, 5000, 100);
    assert.equal((await stats(node, b)).modes.mmwait.tickets, N + 2);
    await h.closeSession(node, a.ws, a.player_id);
    await h.waitFor('a\'s ticket gone from Redis', async () => (await one(redis.port, 'HEXISTS', 'mb:mm:tickets:mmwait', ta.ticket_id)) === 0, 5000, 50);
    const st = await stats(node, b);
    assert.equal(st.modes.mmwait.tickets, N + 1, JSON.stringify(st.modes.mmwait));
    assert.equal(st.modes.mmother.tickets, 1, 'the ticket of a added on another node stays');
    assert.equal(await one(redis.port, 'HEXISTS', 'mb:mm:tickets:mmwait', tb.ticket_id), 1);
    assert.equal(await one(redis.port, 'HEXISTS', 'mb:mm:tickets:mmother', ghostOfA), 1);
    assert.equal(await one(redis.port, 'HLEN', 'mb:mm:tickets:mmwait'), N + 1);
    // b is matched (claimed, then forgotten), queues again; that ticket still goes with b's socket
    const d = await player(node);
    await d.ws.ok('matchmaker.add', { mode: 'mmwait', properties: { room: 'b' } });
    const m = (await b.ws.next('matchmaker.matched', 10000)).payload;
    assert.equal((await d.ws.next('matchmaker.matched', 10000)).payload.match_id, m.match_id);
    const tb2 = await b.ws.ok('matchmaker.add', { mode: 'mmwait', properties: { room: 'b2' } });
    await h.waitFor('b2 in Redis', async () => (await one(redis.port, 'HEXISTS', 'mb:mm:tickets:mmwait', tb2.ticket_id)) === 1, 5000, 50);
    assert.equal((await stats(node, d)).modes.mmwait.tickets, N + 1);
    await h.closeSession(node, b.ws, b.player_id);
    await h.waitFor('b2 gone from Redis', async () => (await one(redis.port, 'HEXISTS', 'mb:mm:tickets:mmwait', tb2.ticket_id)) === 0, 5000, 50);
    assert.equal((await stats(node, d)).modes.mmwait.tickets, N);
    assert.equal(await one(redis.port, 'HLEN', 'mb:mm:tickets:mmwait'), N);
    for (const n of c.nodes) await n.stop();
    await redis.stop();
    c = null;
  });

  it('taking the lease reads a pool of 2,500 in HSCAN batches: exact stale removal, passes run after', async () => {
    const redis = await ch.startRedis();
    const N = 2500;
    const pool = ghostPool('mmwait', N, 'r');
    await redisPipe(redis.port, pool);
    c = await ch.startCluster(2, { redis, scripts, args: ['--auth-rate', '100000'] });
    await c.waitMembers(['node1', 'node2']);
    const watcher = await player(c.nodes[0]);
    let owner;
    for (const n of c.nodes) {
      await h.waitFor(`${n.nodeId} mirrors ${N}`, async () => {
        const s = (await stats(n, watcher)).modes.mmwait;
        owner = s?.pass_owner;
        return s?.tickets === N && !!owner;
      }, 15000, 100);
    }
    const dead = c.nodes.find((n) => n.nodeId === owner);
    const survivor = c.nodes.find((n) => n !== dead);
    // the owner's first read came in batches
    const first = dead.logs().match(/event=matchmaker_pool_read mode=mmwait tickets=(\d+) stale=\d+ owner=1 batches=(\d+)/);
    assert.ok(first, 'the owner logged its pool read');
    assert.equal(Number(first[1]), N);
    assert.ok(Number(first[2]) >= 2, `batches=${first[2]}`);
    // one ticket leaves Redis without a bus message: the survivor's mirror still has it until its own read
    const gone = pool[0][2];
    assert.equal(await one(redis.port, 'HDEL', 'mb:mm:tickets:mmwait', gone), 1);
    assert.equal((await stats(survivor, watcher)).modes.mmwait.tickets, N);
    const from = survivor.logs().length;
    dead.kill();
    await dead.exited;
    const line = await survivor.waitForLog(/event=matchmaker_pool_read mode=mmwait [^\n]*owner=1[^\n]*/, 15000, { from });
    const f = Object.fromEntries([...line.matchAll(/(\w+)=(\S+)/g)].map((x) => [x[1], x[2]]));
    assert.equal(Number(f.tickets), N - 1, line);
    assert.equal(Number(f.stale), 1, line);
    assert.ok(Number(f.batches) >= 2, line);
    const me = await player(survivor);
    await h.waitFor('the survivor owns the passes over N - 1 tickets', async () => {
      const s = (await stats(survivor, me)).modes.mmwait;
      return s.pass_owner === survivor.nodeId && s.tickets === N - 1;
    }, 5000, 100);
    // passes run: two new tickets of one room are matched on the survivor. The dead node is still in
    // its node list (registration not expired yet, 5 s) and may be picked to host the match: the
    // mm.create there gets no answer and the owner creates the match itself (matchmaker_create_retry)
    const p2 = await player(survivor);
    await me.ws.ok('matchmaker.add', { mode: 'mmwait', properties: { room: 'pair' } });
    await p2.ws.ok('matchmaker.add', { mode: 'mmwait', properties: { room: 'pair' } });
    const m1 = (await me.ws.next('matchmaker.matched', 10000)).payload;
    const m2 = (await p2.ws.next('matchmaker.matched', 10000)).payload;
    assert.equal(m1.match_id, m2.match_id);
    assert.equal(m1.node_id, survivor.nodeId);
    // the dead node was the least loaded in the survivor's list (no match, at most one socket against
    // two here): it was picked, did not answer, and the survivor created the match itself
    assert.match(survivor.logs().slice(from), /event=matchmaker_create_retry mode=mmwait/);
    assert.equal((await stats(survivor, me)).modes.mmwait.tickets, N - 1);
    assert.equal(await one(redis.port, 'HLEN', 'mb:mm:tickets:mmwait'), N - 1);
    await survivor.stop();
    await redis.stop();
    c = null;
  });
});
