// The cluster's matchmaker (docs/CLUSTER.md "Matchmaker"): one pool per mode for the whole cluster.
// Tickets added on three nodes become one match (placed on a node, matchmaker.matched with its
// node_id and url on each player's node); matchmaker.remove on another node than the one that
// added the ticket; GET /v1/matchmaker/stats shows the cluster's pool and its pass owner on every
// node; kill -9 of the pass owner while 1,000 tickets wait: another node owns the passes within
// 5 s, the surviving nodes' tickets wait on with their original created_at (and oldest wait), the
// dead node's tickets are gone, and new tickets are matched again. Redis down: add and remove
// answer unavailable; when an empty Redis comes back a node puts back its waiting tickets (not
// those whose socket closed meanwhile) and matching goes on.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const h = require('../integration/harness');
const ch = require('./cluster_harness');

// mmwait: pairs of one room, never smaller, no timeout (tickets of distinct rooms wait forever)
const MMWAIT = `local M = {
  tick_rate = 10,
  players = { min = 2, max = 2 },
  matchmaker = { size = { min = 2, max = 2 }, same = { "room" }, fill_after_ms = -1, timeout_ms = 0 },
}
function M.init(match, params) return { mm = params.players ~= nil } end
function M.get_state(match, state, viewer) return { mm = state.mm } end
return M
`;
const scripts = h.scriptsDir(['mm4', 'mmhook', 'mmto'], { 'modes/mmwait.lua': MMWAIT });

/** One command, the whole RESP reply parsed (arrays, bulk strings, integers, nil). */
function redis(port, ...args) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const parse = (i) => {
      const eol = buf.indexOf('\r\n', i);
      if (eol < 0) return null;
      const t = String.fromCharCode(buf[i]);
      const line = buf.toString('utf8', i + 1, eol);
      if (t === '+' || t === '-') return [t === '-' ? new Error(line) : line, eol + 2];
      if (t === ':') return [Number(line), eol + 2];
      if (t === '$') {
        const n = Number(line);
        if (n < 0) return [null, eol + 2];
        if (buf.length < eol + 2 + n + 2) return null;
        return [buf.toString('utf8', eol + 2, eol + 2 + n), eol + 2 + n + 2];
      }
      if (t === '*') {
        const n = Number(line);
        if (n < 0) return [null, eol + 2];
        const out = [];
        let at = eol + 2;
        for (let k = 0; k < n; k++) {
          const r = parse(at);
          if (!r) return null;
          out.push(r[0]);
          at = r[1];
        }
        return [out, at];
      }
      return [new Error(`bad reply ${t}`), buf.length];
    };
    s.on('connect', () => s.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')));
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const r = parse(0);
      if (r) { s.end(); resolve(r[0]); }
    });
    s.on('error', reject);
    setTimeout(() => { s.destroy(); reject(new Error(`redis ${args[0]}: no reply`)); }, 10000).unref();
  });
}
const hgetall = async (port, key) => {
  const a = await redis(port, 'HGETALL', key);
  const o = {};
  for (let i = 0; i + 1 < a.length; i += 2) o[a[i]] = JSON.parse(a[i + 1]);
  return o;
};

describe('cluster matchmaker', () => {
  let c;
  const open = [];
  const bearer = (a) => ({ authorization: `Bearer ${a.token}` });
  const player = async (node, device_id) => {
    const p = await h.authed(node, device_id ? { device_id } : {});
    open.push(p);
    return p;
  };
  const stats = async (node, who) => {
    const r = await node.http('GET', '/v1/matchmaker/stats', undefined, bearer(who));
    assert.equal(r.status, 200, r.text);
    return r.json;
  };
  before(async () => {
    c = await ch.startCluster(3, { scripts, args: ['--auth-rate', '100000', '--msg-rate', '1000', '--msg-burst', '1000', '--matchmaker-interval-ms', '100'] });
    await c.waitMembers(['node1', 'node2', 'node3']);
  });
  after(async () => {
    for (const p of open) if (p.ws.isOpen) await p.ws.close().catch(() => {});
    for (const n of c.nodes) if (n.running) await n.stop();
    fs.rmSync(scripts, { recursive: true, force: true });
  });
  const nodeOf = (id) => c.nodes.find((n) => n.nodeId === id);

  it('tickets added on three nodes are matched into one match; each player is told on its node', async () => {
    const ps = [await player(c.nodes[0]), await player(c.nodes[1]), await player(c.nodes[2])];
    const skills = [1000, 1040, 1080];
    for (let i = 0; i < 3; i++) {
      const t = await ps[i].ws.ok('matchmaker.add', { mode: 'mm4', properties: { skill: skills[i], region: 'cl3' } });
      assert.equal(t.mode, 'mm4');
      ps[i].ticket = t.ticket_id;
    }
    // every node sees the cluster's pool (3 tickets) until the pass owner groups them (fill after 1.5 s)
    const m = [];
    for (const p of ps) m.push((await p.ws.next('matchmaker.matched', 10000)).payload);
    assert.equal(new Set(m.map((x) => x.match_id)).size, 1, JSON.stringify(m));
    for (let i = 0; i < 3; i++) {
      assert.equal(m[i].ticket_id, ps[i].ticket);
      assert.equal(m[i].players.length, 3);
      assert.equal(m[i].url, `http://127.0.0.1:${nodeOf(m[i].node_id).port}`);
    }
    assert.deepEqual(m[0].players.map((x) => x.player_id).sort(), ps.map((p) => p.player_id).sort());
    // the match lives on the named node, seats reserved for the three; each joins there
    const host = nodeOf(m[0].node_id);
    for (const p of ps) {
      const ws = await host.ws();
      assert.equal((await ws.request('session.connect', { token: p.token })).type, 'session.connected');
      const j = await ws.request('match.join', { match_id: m[0].match_id });
      assert.equal(j.type, 'match.joined', JSON.stringify(j));
      await ws.close();
    }
    // the pool is empty everywhere and in Redis
    for (const n of c.nodes) {
      await h.waitFor(`${n.nodeId}: pool empty`, async () => (await stats(n, ps[0])).modes.mm4.tickets === 0, 5000, 100);
    }
    assert.equal(await redis(c.redis.port, 'HLEN', 'mb:mm:tickets:mm4'), 0);
    const st = await stats(c.nodes[2], ps[0]);
    assert.ok(['node1', 'node2', 'node3'].includes(st.modes.mm4.pass_owner), JSON.stringify(st));
    assert.equal(st.node_id, 'node3');
    await h.waitFor('matches_formed reaches every node', async () => (await stats(c.nodes[2], ps[0])).modes.mm4.matches_formed >= 1, 5000, 100);
  });

  it('matchmaker.remove on another node than the one that added the ticket; bad input loses nothing', async () => {
    const p = await player(c.nodes[0]);
    const t = await p.ws.ok('matchmaker.add', { mode: 'mm4', properties: { skill: 5000, region: 'solo' } });
    // a second ticket for the mode is refused, on any node
    const ws2 = await c.nodes[1].ws();
    assert.equal((await ws2.request('session.connect', { token: p.token })).type, 'session.connected');
    await h.waitFor('node2 mirrors the ticket', async () => (await stats(c.nodes[1], p)).modes.mm4.tickets === 1, 5000, 50);
    const dup = await ws2.request('matchmaker.add', { mode: 'mm4', properties: { skill: 5000, region: 'solo' } });
    assert.equal(dup.payload.code, 'conflict', JSON.stringify(dup));
    const bad = await ws2.request('matchmaker.add', { mode: 'mm4', properties: { region: 'solo' } });
    assert.equal(bad.payload.code, 'bad_request', JSON.stringify(bad));
    const other = await player(c.nodes[2]);
    await h.waitFor('node3 mirrors the ticket', async () => (await stats(c.nodes[2], p)).modes.mm4.tickets === 1, 5000, 50);
    const notMine = await other.ws.request('matchmaker.remove', { ticket_id: t.ticket_id });
    assert.equal(notMine.payload.code, 'not_found');
    assert.equal(await redis(c.redis.port, 'HLEN', 'mb:mm:tickets:mm4'), 1, 'nothing lost by the refused requests');
    const r = await ws2.request('matchmaker.remove', { ticket_id: t.ticket_id }, { cid: 'rm-1' });
    assert.equal(r.type, 'matchmaker.removed', JSON.stringify(r));
    assert.equal(r.cid, 'rm-1');
    assert.equal(r.payload.ticket_id, t.ticket_id);
    assert.equal(await redis(c.redis.port, 'HLEN', 'mb:mm:tickets:mm4'), 0);
    for (const n of c.nodes) {
      await h.waitFor(`${n.nodeId}: removed`, async () => (await stats(n, p)).modes.mm4.tickets === 0, 5000, 50);
    }
    const again = await ws2.request('matchmaker.remove', { ticket_id: t.ticket_id });
    assert.equal(again.payload.code, 'not_found');
    // the player may queue again (from node2 this time), and the ticket goes with its socket
    const t2 = await ws2.ok('matchmaker.add', { mode: 'mm4', properties: { skill: 5000, region: 'solo' } });
    await h.waitFor('the new ticket in Redis', async () => (await redis(c.redis.port, 'HEXISTS', 'mb:mm:tickets:mm4', t2.ticket_id)) === 1, 5000, 50);
    await ws2.close();
    await h.waitFor('closed socket drops its ticket', async () => (await redis(c.redis.port, 'HLEN', 'mb:mm:tickets:mm4')) === 0, 5000, 50);
    await h.waitFor('node1 forgets it', async () => (await stats(c.nodes[0], p)).modes.mm4.tickets === 0, 5000, 50);
  });

  it('the owner runs the Lua hook (teams, refusal) and times tickets out, wherever their sockets are', async () => {
    const sides = [1, 2, 1, 2];
    const ps = [];
    for (let i = 0; i < 4; i++) ps.push(await player(c.nodes[i % 3]));
    const banned = await player(c.nodes[1]);
    // the oldest ticket's group (with the banned player) is refused by the hook, the next one is taken
    await banned.ws.ok('matchmaker.add', { mode: 'mmhook', properties: { skill: 2400, region: 'h', side: 1, banned: 1 } });
    for (let i = 0; i < 4; i++) {
      await ps[i].ws.ok('matchmaker.add', { mode: 'mmhook', properties: { skill: 1500 + i, region: 'h', side: sides[i] } });
    }
    const m = [];
    for (const p of ps) m.push((await p.ws.next('matchmaker.matched', 10000)).payload);
    assert.equal(new Set(m.map((x) => x.match_id)).size, 1);
    for (let i = 0; i < 4; i++) {
      const me = m[0].players.find((x) => x.player_id === ps[i].player_id);
      assert.equal(me.team, sides[i], JSON.stringify(m[0].players));
    }
    assert.ok(!m[0].players.some((x) => x.player_id === banned.player_id));
    await banned.ws.ok('matchmaker.remove', { ticket_id: (await redis(c.redis.port, 'HKEYS', 'mb:mm:tickets:mmhook'))[0] });
    // mmto: a ticket lives 800 ms; the socket on node3 gets matchmaker.removed {reason: timeout}
    const lone = await player(c.nodes[2]);
    const t = await lone.ws.ok('matchmaker.add', { mode: 'mmto', properties: { skill: 1 } });
    const gone = await lone.ws.next('matchmaker.removed', 10000);
    assert.deepEqual(gone.payload, { ticket_id: t.ticket_id, mode: 'mmto', reason: 'timeout' });
    await h.waitFor('timed out ticket gone from Redis', async () => (await redis(c.redis.port, 'HLEN', 'mb:mm:tickets:mmto')) === 0, 5000, 50);
  });

  it('kill -9 of the pass owner with 1,000 waiting tickets: another node owns the passes within 5 s, nothing of the survivors lost', async () => {
    const N = 1000;
    const ps = new Array(N);
    const batch = 50;
    for (let i = 0; i < N; i += batch) {
      await Promise.all(Array.from({ length: Math.min(batch, N - i) }, async (_, k) => {
        const j = i + k;
        const node = c.nodes[j % 3];
        const p = await h.authed(node);
        open.push(p);
        p.node = node.nodeId;
        p.ticket = (await p.ws.ok('matchmaker.add', { mode: 'mmwait', properties: { room: `r${j}` } })).ticket_id;
        ps[j] = p;
      }));
    }
    const tFirst = Date.now(); // every ticket was created before this
    for (const n of c.nodes) {
      await h.waitFor(`${n.nodeId} mirrors ${N}`, async () => (await stats(n, ps[0])).modes.mmwait?.tickets === N, 15000, 100);
    }
    const before = await hgetall(c.redis.port, 'mb:mm:tickets:mmwait');
    assert.equal(Object.keys(before).length, N);
    let owner;
    await h.waitFor('a pass owner for mmwait', async () => {
      owner = (await stats(c.nodes[0], ps[0])).modes.mmwait.pass_owner;
      return !!owner;
    }, 5000, 100);
    const dead = nodeOf(owner);
    const survivors = c.nodes.filter((n) => n !== dead);
    const t0 = Date.now();
    dead.kill();
    await dead.exited;
    let newOwner;
    await h.waitFor('a survivor owns the passes', async () => {
      for (const n of survivors) {
        const s = (await stats(n, ps[0])).modes.mmwait;
        if (s.pass_owner === n.nodeId) { newOwner = n; return true; }
      }
      return false;
    }, 10000, 100);
    const took = Date.now() - t0;
    assert.ok(took < 5000, `takeover took ${took} ms`);
    // the dead node's tickets are removed once it is seen gone (registration expiry, 5 s)
    const mine = ps.filter((p) => p.node !== dead.nodeId);
    const theirs = ps.filter((p) => p.node === dead.nodeId);
    await h.waitFor('dead node tickets removed from Redis', async () => (await redis(c.redis.port, 'HLEN', 'mb:mm:tickets:mmwait')) === mine.length, 15000, 200);
    for (const n of survivors) {
      await h.waitFor(`${n.nodeId}: ${mine.length} tickets`, async () => (await stats(n, ps[0])).modes.mmwait.tickets === mine.length, 10000, 100);
    }
    const after = await hgetall(c.redis.port, 'mb:mm:tickets:mmwait');
    for (const p of mine) {
      assert.ok(after[p.ticket], `ticket of ${p.node} lost`);
      assert.equal(after[p.ticket].created_at, before[p.ticket].created_at);
    }
    for (const p of theirs) assert.equal(after[p.ticket], undefined);
    await h.waitFor('dead node hash emptied', async () => (await redis(c.redis.port, 'HLEN', `mb:mm:node:${dead.nodeId}`)) === 0, 5000, 50);
    // the new owner's pool has the original wait times
    const st = (await stats(newOwner, ps[0])).modes.mmwait;
    assert.ok(st.oldest_wait_ms >= Date.now() - tFirst - 200, `oldest_wait_ms ${st.oldest_wait_ms} < ${Date.now() - tFirst}`);
    // passes go on: one surviving ticket gets a partner on the other survivor
    const waiting = mine.find((p) => p.node === survivors[0].nodeId);
    const partner = await player(survivors[1]);
    const room = Number(/r(\d+)/.exec(JSON.stringify(after[waiting.ticket].properties))[1]);
    await partner.ws.ok('matchmaker.add', { mode: 'mmwait', properties: { room: `r${room}` } });
    const m1 = (await waiting.ws.next('matchmaker.matched', 10000)).payload;
    const m2 = (await partner.ws.next('matchmaker.matched', 10000)).payload;
    assert.equal(m1.match_id, m2.match_id);
    assert.notEqual(m1.node_id, dead.nodeId);
    assert.equal(m1.url, `http://127.0.0.1:${nodeOf(m1.node_id).port}`);
    const left = (await stats(survivors[0], ps[0])).modes.mmwait.tickets;
    assert.ok(left === mine.length - 1 || left === mine.length, `left ${left}`); // mirror catching up
    await h.waitFor('pool shrinks by one', async () => (await stats(survivors[0], ps[0])).modes.mmwait.tickets === mine.length - 1, 5000, 100);
    // close the many sockets: their tickets go
    await Promise.all(mine.map((p) => p.ws.close().catch(() => {})));
    await h.waitFor('pool empty', async () => (await redis(c.redis.port, 'HLEN', 'mb:mm:tickets:mmwait')) === 0, 20000, 200);
  });
});

describe('cluster matchmaker: Redis stops and comes back empty', () => {
  let c;
  const open = [];
  after(async () => {
    for (const p of open) if (p.ws.isOpen) await p.ws.close().catch(() => {});
    for (const n of c.nodes) if (n.running) await n.stop();
    fs.rmSync(scripts2, { recursive: true, force: true });
  });
  const scripts2 = h.scriptsDir([], { 'modes/mmwait.lua': MMWAIT });
  it('add/remove answer unavailable while Redis is down; waiting tickets are put back and matched after', async () => {
    c = await ch.startCluster(1, { scripts: scripts2, args: ['--auth-rate', '100000'] });
    await c.waitMembers(['node1']);
    const node = c.nodes[0];
    const mk = async () => { const p = await h.authed(node); open.push(p); return p; };
    const a = await mk(), b = await mk(), d = await mk();
    const ta = await a.ws.ok('matchmaker.add', { mode: 'mmwait', properties: { room: 'back' } });
    const tb = await b.ws.ok('matchmaker.add', { mode: 'mmwait', properties: { room: 'gone' } });
    // the HSET is sent before the reply, not awaited: Redis has it a moment later
    await h.waitFor('both tickets in Redis', async () => (await redis(c.redis.port, 'HLEN', 'mb:mm:tickets:mmwait')) === 2, 5000, 50);
    const port = c.redis.port;
    await c.redis.stop();
    await h.waitFor('node sees Redis down', async () => (await c.admin(node, 'GET', '/v1/cluster')).json.redis === 'unreachable', 10000, 100);
    const refused = await d.ws.request('matchmaker.add', { mode: 'mmwait', properties: { room: 'back' } });
    assert.equal(refused.payload.code, 'unavailable', JSON.stringify(refused));
    const noRemove = await a.ws.request('matchmaker.remove', { ticket_id: ta.ticket_id });
    assert.equal(noRemove.payload.code, 'unavailable', JSON.stringify(noRemove));
    await b.ws.close(); // its ticket goes, Redis is told when it is back
    const redis2 = await ch.startRedis({ port });
    c.redis = redis2;
    await h.waitFor('node back on Redis', async () => (await c.admin(node, 'GET', '/v1/cluster')).json.redis === 'ok', 10000, 100);
    await h.waitFor('the waiting ticket is put back', async () => (await redis(port, 'HEXISTS', 'mb:mm:tickets:mmwait', ta.ticket_id)) === 1, 10000, 100);
    assert.equal(await redis(port, 'HEXISTS', 'mb:mm:tickets:mmwait', tb.ticket_id), 0);
    await d.ws.ok('matchmaker.add', { mode: 'mmwait', properties: { room: 'back' } });
    const m1 = (await a.ws.next('matchmaker.matched', 10000)).payload;
    const m2 = (await d.ws.next('matchmaker.matched', 10000)).payload;
    assert.equal(m1.match_id, m2.match_id);
    assert.equal(m1.node_id, 'node1');
  });
});
