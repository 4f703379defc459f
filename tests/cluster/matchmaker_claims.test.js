// The cluster's matchmaker when the pass owner dies between a claim and the match (docs/CLUSTER.md
// "Matchmaker"): the claim script moves a group's tickets from mb:mm:tickets:<mode> into
// mb:mm:claims:<mode> (field: a claim id, value {at, tickets}); the node that hosts the match removes
// the claim before creating it. A dead owner leaves the claim behind: the test writes exactly that
// state into Redis (the owner's death cannot be timed between two Redis replies from outside),
// and the lease owner puts the tickets back once the claim is 10 s old: the players' tickets are
// matched after all, a ticket its player removed meanwhile and a ticket of a node that is gone stay
// out. A normal match leaves no claim behind.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const h = require('../integration/harness');
const ch = require('./cluster_harness');

// mmwait: pairs of one room, never smaller, no timeout (cluster_harness.js waitingMode)
const scripts = h.scriptsDir([], Object.fromEntries([ch.waitingMode('mmwait')]));

/** One command; resolves with an integer, a bulk string (null when nil) or the raw reply. */
function redis(port, ...a) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    s.on('connect', () => s.write(`*${a.length}\r\n` + a.map((x) => `$${Buffer.byteLength(String(x))}\r\n${x}\r\n`).join('')));
    s.on('data', (d) => {
      buf += d;
      let m;
      if ((m = /^:(-?\d+)\r\n/.exec(buf))) { s.end(); resolve(Number(m[1])); return; }
      if (buf.startsWith('$-1\r\n')) { s.end(); resolve(null); return; }
      if ((m = /^\$(\d+)\r\n/.exec(buf))) {
        const n = Number(m[1]), at = m[0].length;
        if (Buffer.byteLength(buf) >= at + n + 2) { s.end(); resolve(Buffer.from(buf).toString('utf8', at, at + n)); }
        return;
      }
      if (buf.endsWith('\r\n')) { s.end(); resolve(buf); }
    });
    s.on('error', reject);
    setTimeout(() => { s.destroy(); reject(new Error(`redis ${a[0]}: no reply`)); }, 10000).unref();
  });
}

describe('cluster matchmaker: a claim its owner never settled', () => {
  let c;
  const open = [];
  before(async () => {
    c = await ch.startCluster(2, { scripts, args: ['--auth-rate', '100000'] });
    await c.waitMembers(['node1', 'node2']);
  });
  after(async () => {
    for (const p of open) if (p.ws.isOpen) await p.ws.close().catch(() => {});
    for (const n of c.nodes) if (n.running) await n.stop();
    fs.rmSync(scripts, { recursive: true, force: true });
  });
  const player = async (node) => {
    const p = await h.authed(node);
    open.push(p);
    return p;
  };
  const stats = async (node, who) => (await node.http('GET', '/v1/matchmaker/stats', undefined, { authorization: `Bearer ${who.token}` })).json;

  it('a normal match leaves no claim behind', async () => {
    const a = await player(c.nodes[0]), b = await player(c.nodes[1]);
    await a.ws.ok('matchmaker.add', { mode: 'mmwait', properties: { room: 'n' } });
    await b.ws.ok('matchmaker.add', { mode: 'mmwait', properties: { room: 'n' } });
    const m1 = (await a.ws.next('matchmaker.matched', 10000)).payload;
    const m2 = (await b.ws.next('matchmaker.matched', 10000)).payload;
    assert.equal(m1.match_id, m2.match_id);
    assert.equal(await redis(c.redis.port, 'HLEN', 'mb:mm:claims:mmwait'), 0);
    assert.equal(await redis(c.redis.port, 'HLEN', 'mb:mm:tickets:mmwait'), 0);
  });

  it('the lease owner puts the tickets of a dead owner\'s claim back; they are matched after all', async () => {
    const port = c.redis.port;
    const a = await player(c.nodes[0]), b = await player(c.nodes[1]), e = await player(c.nodes[1]);
    const ta = (await a.ws.ok('matchmaker.add', { mode: 'mmwait', properties: { room: 'p' } })).ticket_id;
    const tb = (await b.ws.ok('matchmaker.add', { mode: 'mmwait', properties: { room: 'q' } })).ticket_id;
    const te = (await e.ws.ok('matchmaker.add', { mode: 'mmwait', properties: { room: 'r' } })).ticket_id;
    for (const n of c.nodes) await h.waitFor(`${n.nodeId} mirrors 3`, async () => (await stats(n, a)).modes.mmwait?.tickets === 3, 5000, 50);
    // what the claim script of an owner that died right after it leaves in Redis
    const texts = [];
    for (const [tid, node] of [[ta, 'node1'], [tb, 'node2'], [te, 'node2']]) {
      const text = await redis(port, 'HGET', 'mb:mm:tickets:mmwait', tid);
      assert.ok(text, `${tid} in Redis`);
      texts.push(text);
      assert.equal(await redis(port, 'HDEL', 'mb:mm:tickets:mmwait', tid), 1);
      assert.equal(await redis(port, 'HDEL', `mb:mm:node:${node}`, tid), 1);
    }
    const ghost = JSON.stringify({ ticket_id: crypto.randomUUID(), node_id: 'ghost', player_id: crypto.randomUUID(), username: 'g', mode: 'mmwait', properties: { room: 'p' }, created_at: Date.now() });
    // e removes its ticket meanwhile: it is claimed (not_found), and it stays removed
    const rm = await e.ws.request('matchmaker.remove', { ticket_id: te });
    assert.equal(rm.payload.code, 'not_found', JSON.stringify(rm));
    for (const n of c.nodes) await h.waitFor(`${n.nodeId} forgets e's ticket`, async () => (await stats(n, a)).modes.mmwait.tickets === 2, 5000, 50);
    const froms = c.nodes.map((n) => n.logs().length);
    const claim = crypto.randomUUID();
    assert.equal(await redis(port, 'HSET', 'mb:mm:claims:mmwait', claim, `{"at":${Date.now() - 60000},"tickets":[${texts.join(',')},${ghost}]}`), 1);
    // within a lease tick the owner takes the claim and puts a's and b's tickets back
    await h.waitFor('claim taken', async () => (await redis(port, 'HLEN', 'mb:mm:claims:mmwait')) === 0, 5000, 50);
    const line = await Promise.any(c.nodes.map((n, i) => n.waitForLog(/event=matchmaker_claims_restored [^\n]*/, 5000, { from: froms[i] })));
    assert.match(line, /mode=mmwait claims=1 tickets=2 dropped=2/);
    await h.waitFor('a and b back in Redis', async () => (await redis(port, 'HEXISTS', 'mb:mm:tickets:mmwait', ta)) === 1 &&
      (await redis(port, 'HEXISTS', 'mb:mm:tickets:mmwait', tb)) === 1, 5000, 50);
    assert.equal(await redis(port, 'HGET', 'mb:mm:node:node1', ta), 'mmwait');
    assert.equal(await redis(port, 'HGET', 'mb:mm:node:node2', tb), 'mmwait');
    assert.equal(await redis(port, 'HEXISTS', 'mb:mm:tickets:mmwait', te), 0, 'a removed ticket stays out');
    assert.equal(await redis(port, 'HLEN', 'mb:mm:tickets:mmwait'), 2, 'the ghost node\'s ticket stays out');
    // the original created_at is kept
    assert.equal(JSON.parse(await redis(port, 'HGET', 'mb:mm:tickets:mmwait', ta)).created_at, JSON.parse(texts[0]).created_at);
    // a and b are matched with new partners (the other node for b)
    const pa = await player(c.nodes[1]), pb = await player(c.nodes[0]);
    await pa.ws.ok('matchmaker.add', { mode: 'mmwait', properties: { room: 'p' } });
    await pb.ws.ok('matchmaker.add', { mode: 'mmwait', properties: { room: 'q' } });
    const ma = (await a.ws.next('matchmaker.matched', 10000)).payload;
    assert.equal(ma.ticket_id, ta);
    assert.equal((await pa.ws.next('matchmaker.matched', 10000)).payload.match_id, ma.match_id);
    const mb = (await b.ws.next('matchmaker.matched', 10000)).payload;
    assert.equal(mb.ticket_id, tb);
    assert.equal((await pb.ws.next('matchmaker.matched', 10000)).payload.match_id, mb.match_id);
    await h.roundTrip(e.ws);
    assert.ok(!e.ws.buffer.some((m) => m.type === 'matchmaker.matched'), 'e was not matched');
    for (const n of c.nodes) await h.waitFor(`${n.nodeId}: pool empty`, async () => (await stats(n, a)).modes.mmwait.tickets === 0, 5000, 50);
    assert.equal(await redis(port, 'HLEN', 'mb:mm:tickets:mmwait'), 0);
    assert.equal(await redis(port, 'HLEN', 'mb:mm:claims:mmwait'), 0);
  });
});
