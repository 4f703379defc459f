'use strict';
// Chat (docs/SOCIAL.md "Chat"): chat.join / chat.leave / chat.send on the socket, chat.message
// fan-out after the commit with the sender's cid, match:<id> and dm:<player> channels, the
// moonbase.on_chat filter, the per-player rate limit, every error, group commits, and history
// over GET /v1/chat/{channel_id}/messages.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const uniq = () => crypto.randomBytes(4).toString('hex');
const bearer = (p) => ({ authorization: `Bearer ${p.token}` });

// A scripts folder with the example modes and a server.lua that filters chat.
function chatScripts() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-chat-scripts-'));
  fs.cpSync(path.join(h.REPO_ROOT, 'scripts', 'modes'), path.join(dir, 'modes'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'lib'));
  fs.writeFileSync(
    path.join(dir, 'server.lua'),
    `local moonbase = require("moonbase")
moonbase.on_chat(function(ctx, channel_id, content)
  if content:find("forbidden%-word") then return nil, "watch your language" end
  if content == "explode" then error("filter exploded") end
  if content == "erase me" then return "" end
  return (content:gsub("darn", "d**n"))
end)
`
  );
  return dir;
}

/** Every reply to `cid` on ws (there must be exactly one). */
function repliesTo(ws, cid) {
  return ws.received.filter((m) => m && m.cid === cid);
}

function assertChatError(reply, code, reason) {
  assert.equal(reply.type, 'error', JSON.stringify(reply));
  assert.equal(reply.payload.code, code, JSON.stringify(reply));
  assert.equal(typeof reply.payload.message, 'string');
  if (reason) assert.equal(reply.payload.reason, reason, JSON.stringify(reply));
}

describe('chat', () => {
  let server;
  let scriptsDir;
  before(async () => {
    scriptsDir = chatScripts();
    server = await h.startServer({ scripts: scriptsDir, args: ['--auth-rate', '100000', '--chat-rate', '20'] });
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
    fs.rmSync(scriptsDir, { recursive: true, force: true });
  });

  describe('join and leave', () => {
    it('chat.join answers chat.joined with the member count (distinct players), chat.leave answers chat.left', async () => {
      const room = `lobby-${uniq()}`;
      const a = await h.authed(server);
      const b = await h.authed(server);
      assert.deepEqual(await a.ws.ok('chat.join', { channel_id: room }), { channel_id: room, members: 1 });
      assert.deepEqual(await b.ws.ok('chat.join', { channel_id: room }), { channel_id: room, members: 2 });
      // a second socket of b: still two players
      const b2 = await server.ws();
      await b2.ok('session.connect', { token: b.token });
      assert.deepEqual(await b2.ok('chat.join', { channel_id: room }), { channel_id: room, members: 2 });
      // joining again is harmless
      assert.deepEqual(await a.ws.ok('chat.join', { channel_id: room }), { channel_id: room, members: 2 });
      assert.deepEqual(await b.ws.ok('chat.leave', { channel_id: room }), { channel_id: room });
      assert.deepEqual(await a.ws.ok('chat.join', { channel_id: room }), { channel_id: room, members: 2 }, 'b2 is still in');
      await h.closeSession(server, b2, b.player_id);
      assert.deepEqual(await a.ws.ok('chat.join', { channel_id: room }), { channel_id: room, members: 1 });
      // leaving a channel one is not in is not an error
      const never = `never-${uniq()}`;
      assert.deepEqual(await a.ws.ok('chat.leave', { channel_id: never }), { channel_id: never });
    });

    it('channel ids: 1..64 of [A-Za-z0-9._:-]; anything else is bad_request (reason bad_channel)', async () => {
      const a = await h.authed(server);
      const ok64 = 'c'.repeat(64);
      assert.equal((await a.ws.ok('chat.join', { channel_id: ok64 })).channel_id, ok64);
      assert.equal((await a.ws.ok('chat.join', { channel_id: 'A.b_c:d-9' })).channel_id, 'A.b_c:d-9');
      for (const bad of ['', 'c'.repeat(65), 'has space', 'sl/ash', 'émoji', 'semi;colon', 'dm:not-a-uuid', 'match:']) {
        for (const type of ['chat.join', 'chat.leave', 'chat.send']) {
          const payload = type === 'chat.send' ? { channel_id: bad, content: 'x' } : { channel_id: bad };
          const r = await a.ws.request(type, payload);
          assertChatError(r, 'bad_request', 'bad_channel');
          assert.equal(r.payload.request_type, type);
        }
      }
      const missing = await a.ws.request('chat.join', {});
      assertChatError(missing, 'bad_request');
      assert.match(missing.payload.message, /missing field 'channel_id'/);
      assertChatError(await a.ws.request('chat.join', { channel_id: 5 }), 'bad_request');
      // a socket can be in at most 64 channels
      const c = await h.authed(server);
      for (let i = 0; i < 64; i++) await c.ws.ok('chat.join', { channel_id: `many-${i}` });
      assertChatError(await c.ws.request('chat.join', { channel_id: 'many-64' }), 'forbidden', 'too_many_channels');
    });

    it('chat messages need session.connect first', async () => {
      const ws = await server.ws();
      assertChatError(await ws.request('chat.join', { channel_id: 'lobby' }), 'unauthorized');
      assertChatError(await ws.request('chat.send', { channel_id: 'lobby', content: 'hi' }), 'unauthorized');
      await ws.close();
    });
  });

  describe('send', () => {
    it('commits, then sends chat.message (spec fields + message_id) to every member; the sender gets its cid', async () => {
      const room = `room-${uniq()}`;
      const a = await h.authed(server);
      const b = await h.authed(server);
      const outsider = await h.authed(server);
      await a.ws.ok('chat.join', { channel_id: room });
      await b.ws.ok('chat.join', { channel_id: room });
      const reply = await a.ws.request('chat.send', { channel_id: room, content: 'Hello!' }, { cid: 'send-1' });
      assert.equal(reply.type, 'chat.message');
      assert.equal(reply.cid, 'send-1');
      assert.deepEqual(Object.keys(reply.payload).sort(), ['channel_id', 'content', 'message_id', 'sender_id', 'sent_at']);
      assert.equal(reply.payload.channel_id, room);
      assert.equal(reply.payload.sender_id, a.player_id);
      assert.equal(reply.payload.content, 'Hello!');
      assert.match(reply.payload.sent_at, RFC3339);
      assert.ok(Math.abs(Date.parse(reply.payload.sent_at) - Date.now()) < 60000);
      assert.match(reply.payload.message_id, /^[0-9a-f-]{36}$/);
      const got = await b.ws.next('chat.message');
      assert.equal(got.cid, undefined, 'other members get no cid');
      assert.deepEqual(got.payload, reply.payload);
      await outsider.ws.expectNone('chat.message', 300);
      await h.roundTrip(a.ws); // whatever the server sent a before this reply has arrived
      assert.equal(repliesTo(a.ws, 'send-1').length, 1, 'exactly one reply to the cid');
      assert.equal(a.ws.buffer.filter((m) => m.type === 'chat.message').length, 0, 'no second copy for the sender socket');
      // stored: newest first
      const hist = await server.http('GET', `/v1/chat/${room}/messages`, undefined, bearer(b));
      assert.equal(hist.status, 200, hist.text);
      assert.deepEqual(hist.json.messages, [reply.payload]);
      assert.equal(hist.json.next_cursor, null);
    });

    it('the sender\'s other sockets in the channel get the plain copy; without a cid the sender socket gets it too', async () => {
      const room = `multi-${uniq()}`;
      const a = await h.authed(server);
      const a2 = await server.ws();
      await a2.ok('session.connect', { token: a.token });
      await a.ws.ok('chat.join', { channel_id: room });
      await a2.ok('chat.join', { channel_id: room });
      const mine = await a.ws.request('chat.send', { channel_id: room, content: 'one' });
      assert.equal(mine.type, 'chat.message');
      const other = await a2.next('chat.message');
      assert.equal(other.cid, undefined);
      assert.equal(other.payload.message_id, mine.payload.message_id);
      a.ws.send({ type: 'chat.send', payload: { channel_id: room, content: 'no cid' } });
      const plain = await a.ws.next('chat.message');
      assert.equal(plain.cid, undefined);
      assert.equal(plain.payload.content, 'no cid');
      await a2.next((m) => m.type === 'chat.message' && m.payload.content === 'no cid');
      await a2.close();
    });

    it('a channel\'s messages arrive in the order they were sent, each committed once', async () => {
      const room = `order-${uniq()}`;
      const a = await h.authed(server);
      const b = await h.authed(server);
      await a.ws.ok('chat.join', { channel_id: room });
      await b.ws.ok('chat.join', { channel_id: room });
      const sends = [];
      for (let i = 0; i < 15; i++) sends.push(a.ws.request('chat.send', { channel_id: room, content: `m${i}` }));
      const replies = await Promise.all(sends);
      for (const r of replies) assert.equal(r.type, 'chat.message', JSON.stringify(r));
      const seen = [];
      for (let i = 0; i < 15; i++) seen.push((await b.ws.next('chat.message')).payload.content);
      assert.deepEqual(seen, Array.from({ length: 15 }, (_, i) => `m${i}`));
      const hist = await server.http('GET', `/v1/chat/${room}/messages?limit=100`, undefined, bearer(a));
      assert.deepEqual(hist.json.messages.map((m) => m.content), seen.slice().reverse());
    });

    it('content: 1..2000 characters (UTF-8 code points); longer, empty, NUL or missing is bad_request', async () => {
      const room = `len-${uniq()}`;
      const a = await h.authed(server);
      await a.ws.ok('chat.join', { channel_id: room });
      const max = '🚀'.repeat(2000);
      const ok = await a.ws.request('chat.send', { channel_id: room, content: max });
      assert.equal(ok.type, 'chat.message');
      assert.equal(ok.payload.content, max);
      const long = await a.ws.request('chat.send', { channel_id: room, content: 'x'.repeat(2001) });
      assertChatError(long, 'bad_request', 'too_long');
      assert.match(long.payload.message, /1\.\.2000/);
      assertChatError(await a.ws.request('chat.send', { channel_id: room, content: '' }), 'bad_request');
      // NUL: the envelope parser already refuses it (no cid can be read back from invalid JSON)
      a.ws.send({ type: 'chat.send', cid: 'nul', payload: { channel_id: room, content: 'a\u0000b' } });
      assertChatError(await a.ws.next('error'), 'bad_request');
      assertChatError(await a.ws.request('chat.send', { channel_id: room }), 'bad_request');
      assertChatError(await a.ws.request('chat.send', { channel_id: room, content: 42 }), 'bad_request');
      const hist = await server.http('GET', `/v1/chat/${room}/messages`, undefined, bearer(a));
      assert.equal(hist.json.messages.length, 1, 'only the valid message is stored');
    });

    it('sending to a channel the socket has not joined is forbidden (reason not_joined), and not stored', async () => {
      const room = `nj-${uniq()}`;
      const a = await h.authed(server);
      const b = await h.authed(server);
      await b.ws.ok('chat.join', { channel_id: room });
      assertChatError(await a.ws.request('chat.send', { channel_id: room, content: 'sneaky' }), 'forbidden', 'not_joined');
      await a.ws.ok('chat.join', { channel_id: room });
      await a.ws.ok('chat.leave', { channel_id: room });
      assertChatError(await a.ws.request('chat.send', { channel_id: room, content: 'after leave' }), 'forbidden', 'not_joined');
      await b.ws.expectNone('chat.message', 300);
      const hist = await server.http('GET', `/v1/chat/${room}/messages`, undefined, bearer(b));
      assert.deepEqual(hist.json.messages, []);
    });

    it('per-player rate limit (--chat-rate 20): past it rate_limited, and every request still gets one reply', async () => {
      const room = `rate-${uniq()}`;
      const a = await h.authed(server);
      await a.ws.ok('chat.join', { channel_id: room });
      const cids = Array.from({ length: 40 }, (_, i) => `r${i}`);
      const replies = await Promise.all(cids.map((cid, i) => a.ws.request('chat.send', { channel_id: room, content: `spam ${i}` }, { cid })));
      const ok = replies.filter((r) => r.type === 'chat.message');
      const limited = replies.filter((r) => r.type === 'error' && r.payload.code === 'rate_limited');
      assert.equal(ok.length + limited.length, 40, JSON.stringify(replies.filter((r) => !ok.includes(r) && !limited.includes(r))));
      assert.ok(ok.length >= 20 && ok.length <= 22, `about 20 accepted, got ${ok.length}`);
      assert.ok(limited.length > 0);
      await h.roundTrip(a.ws); // a second reply to any cid would have arrived before this one
      for (const cid of cids) assert.equal(repliesTo(a.ws, cid).length, 1, cid);
      // the limit is per player: a second socket of the same player is limited too
      const a2 = await server.ws();
      await a2.ok('session.connect', { token: a.token });
      await a2.ok('chat.join', { channel_id: room });
      const again = await Promise.all(Array.from({ length: 10 }, (_, i) => a2.request('chat.send', { channel_id: room, content: `again ${i}` })));
      assert.ok(again.some((r) => r.type === 'error' && r.payload.code === 'rate_limited'), 'the bucket is per player');
      // the bucket refills: a send is accepted again (refused sends take no token)
      await h.waitFor('an accepted chat.send after the refill',
        async () => (await a2.request('chat.send', { channel_id: room, content: 'refilled' })).type === 'chat.message', 10000, 100);
      await a2.close();
    });

    it('group commit: many concurrent sends from many players commit in fewer INSERTs than messages', async () => {
      const room = `burst-${uniq()}`;
      const players = await Promise.all(Array.from({ length: 10 }, () => h.authed(server)));
      for (const p of players) await p.ws.ok('chat.join', { channel_id: room });
      const metric = async () => {
        const m = await server.http('GET', '/metrics');
        return Number((/^moonbase_chat_commits_total (\d+)/m.exec(m.text) || [])[1]);
      };
      const before = await metric();
      const replies = await Promise.all(
        players.flatMap((p, i) => Array.from({ length: 10 }, (_, k) => p.ws.request('chat.send', { channel_id: room, content: `p${i}-${k}` })))
      );
      for (const r of replies) assert.equal(r.type, 'chat.message', JSON.stringify(r));
      const commits = (await metric()) - before;
      assert.ok(commits >= 1 && commits < 100, `100 messages in ${commits} commits`);
      // everyone got all 100 (90 as plain copies, 10 as own replies)
      for (const p of players) {
        for (let k = 0; k < 90; k++) await p.ws.next('chat.message', 5000);
      }
      const hist = await server.http('GET', `/v1/chat/${room}/messages?limit=100`, undefined, bearer(players[0]));
      assert.equal(hist.json.messages.length, 100);
      assert.equal(new Set(hist.json.messages.map((m) => m.message_id)).size, 100);
    });
  });

  describe('moonbase.on_chat (scripts/server.lua)', () => {
    it('replaces, rejects (forbidden, reason rejected) or fails (internal) a message', async () => {
      const room = `filter-${uniq()}`;
      const a = await h.authed(server);
      const b = await h.authed(server);
      await a.ws.ok('chat.join', { channel_id: room });
      await b.ws.ok('chat.join', { channel_id: room });
      const replaced = await a.ws.ok('chat.send', { channel_id: room, content: 'oh darn it' });
      assert.equal(replaced.content, 'oh d**n it');
      assert.equal((await b.ws.next('chat.message')).payload.content, 'oh d**n it');
      const rej = await a.ws.request('chat.send', { channel_id: room, content: 'a forbidden-word here' });
      assertChatError(rej, 'forbidden', 'rejected');
      assert.equal(rej.payload.message, 'watch your language');
      assertChatError(await a.ws.request('chat.send', { channel_id: room, content: 'erase me' }), 'forbidden', 'rejected');
      const failed = await a.ws.request('chat.send', { channel_id: room, content: 'explode' });
      assertChatError(failed, 'internal');
      await b.ws.expectNone('chat.message', 300);
      assert.match(await server.waitForLog(/event=on_chat_failed/, 2000), /filter exploded/);
      const hist = await server.http('GET', `/v1/chat/${room}/messages`, undefined, bearer(a));
      assert.deepEqual(hist.json.messages.map((m) => m.content), ['oh d**n it']);
    });
  });

  describe('match channels', () => {
    it('match:<id> is open to the match\'s seated players only (join, send, history)', async () => {
      const a = await h.authed(server);
      const b = await h.authed(server);
      const c = await h.authed(server);
      const created = await server.http('POST', '/v1/matches', { mode: 'tictactoe' }, bearer(a));
      assert.equal(created.status, 201, created.text);
      const matchId = created.json.match_id;
      const ch = `match:${matchId}`;
      // not joined to the match yet
      assertChatError(await a.ws.request('chat.join', { channel_id: ch }), 'forbidden', 'not_in_match');
      await a.ws.ok('match.join', { match_id: matchId });
      await b.ws.ok('match.join', { match_id: matchId });
      assert.deepEqual(await a.ws.ok('chat.join', { channel_id: ch }), { channel_id: ch, members: 1 });
      assert.deepEqual(await b.ws.ok('chat.join', { channel_id: ch }), { channel_id: ch, members: 2 });
      assertChatError(await c.ws.request('chat.join', { channel_id: ch }), 'forbidden', 'not_in_match');
      assertChatError(await c.ws.request('chat.join', { channel_id: `match:${crypto.randomUUID()}` }), 'not_found', 'no_match');
      const sent = await a.ws.ok('chat.send', { channel_id: ch, content: 'gl hf' });
      assert.equal((await b.ws.next('chat.message')).payload.message_id, sent.message_id);
      const ok = await server.http('GET', `/v1/chat/${encodeURIComponent(ch)}/messages`, undefined, bearer(b));
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.json.messages[0].content, 'gl hf');
      const denied = await server.http('GET', `/v1/chat/${ch}/messages`, undefined, bearer(c));
      assert.equal(denied.status, 403, denied.text);
      assert.equal(denied.json.error.code, 'forbidden');
      // b leaves the match: b can no longer post there
      await b.ws.ok('match.leave', {});
      assertChatError(await b.ws.request('chat.send', { channel_id: ch, content: 'still here?' }), 'forbidden', 'not_in_match');
    });
  });

  describe('direct channels', () => {
    it('dm:<player_id>: each side names the channel after the other; history is shared; a block stops it', async () => {
      const a = await h.authed(server);
      const b = await h.authed(server);
      const c = await h.authed(server);
      const ab = `dm:${b.player_id}`;
      const ba = `dm:${a.player_id}`;
      assert.deepEqual(await a.ws.ok('chat.join', { channel_id: ab }), { channel_id: ab, members: 1 });
      assert.deepEqual(await b.ws.ok('chat.join', { channel_id: ba.toUpperCase().replace('DM:', 'dm:') }), { channel_id: ba, members: 2 });
      await c.ws.ok('chat.join', { channel_id: `dm:${b.player_id}` }); // c's own channel with b
      const mine = await a.ws.ok('chat.send', { channel_id: ab, content: 'psst' });
      assert.equal(mine.channel_id, ab);
      const theirs = (await b.ws.next('chat.message')).payload;
      assert.equal(theirs.channel_id, ba);
      assert.equal(theirs.message_id, mine.message_id);
      assert.equal(theirs.sender_id, a.player_id);
      await c.ws.expectNone('chat.message', 300);
      const reply = await b.ws.ok('chat.send', { channel_id: ba, content: 'hi a' });
      assert.equal(reply.channel_id, ba);
      assert.equal((await a.ws.next('chat.message')).payload.channel_id, ab);
      const ha = await server.http('GET', `/v1/chat/${ab}/messages`, undefined, bearer(a));
      const hb = await server.http('GET', `/v1/chat/${ba}/messages`, undefined, bearer(b));
      assert.deepEqual(ha.json.messages.map((m) => [m.content, m.channel_id]), [['hi a', ab], ['psst', ab]]);
      assert.deepEqual(hb.json.messages.map((m) => [m.content, m.channel_id]), [['hi a', ba], ['psst', ba]]);
      const hc = await server.http('GET', `/v1/chat/dm:${b.player_id}/messages`, undefined, bearer(c));
      assert.deepEqual(hc.json.messages, [], 'c and b have their own channel');
      // a DM with oneself is not a thing
      assertChatError(await a.ws.request('chat.join', { channel_id: `dm:${a.player_id}` }), 'bad_request', 'bad_channel');
      // b blocks a: neither can send (or join) any more
      const blk = await server.http('POST', `/v1/friends/${a.player_id}/block`, {}, bearer(b));
      assert.equal(blk.status, 200, blk.text);
      assertChatError(await a.ws.request('chat.send', { channel_id: ab, content: 'hello?' }), 'forbidden', 'blocked');
      assertChatError(await b.ws.request('chat.send', { channel_id: ba, content: 'bye' }), 'forbidden', 'blocked');
      const a2 = await server.ws();
      await a2.ok('session.connect', { token: a.token });
      assertChatError(await a2.request('chat.join', { channel_id: ab }), 'forbidden', 'blocked');
      await a2.close();
      const after = await server.http('GET', `/v1/chat/${ab}/messages`, undefined, bearer(a));
      assert.equal(after.json.messages.length, 2);
    });
  });

  describe('GET /v1/chat/{channel_id}/messages', () => {
    it('pages newest first with limit (1..100, default 50) and before=<message_id> (next_cursor)', async () => {
      const room = `hist-${uniq()}`;
      const a = await h.authed(server);
      await a.ws.ok('chat.join', { channel_id: room });
      const ids = [];
      for (let i = 0; i < 60; i++) {
        // --chat-rate 20: a rate_limited send is retried until the bucket has refilled
        const r = await h.waitFor(`chat.send n${i} accepted`, async () => {
          const x = await a.ws.request('chat.send', { channel_id: room, content: `n${i}` });
          return x.type === 'error' && x.payload.code === 'rate_limited' ? null : x;
        }, 10000, 100);
        assert.equal(r.type, 'chat.message', JSON.stringify(r));
        ids.push(r.payload.message_id);
      }
      const get = (q) => server.http('GET', `/v1/chat/${room}/messages${q}`, undefined, bearer(a));
      const def = await get('');
      assert.equal(def.json.messages.length, 50);
      assert.equal(def.json.channel_id, room);
      assert.equal(def.json.messages[0].content, 'n59');
      assert.equal(def.json.next_cursor, ids[10]);
      const p1 = await get('?limit=25');
      assert.deepEqual(p1.json.messages.map((m) => m.content), Array.from({ length: 25 }, (_, i) => `n${59 - i}`));
      assert.equal(p1.json.next_cursor, p1.json.messages[24].message_id);
      const p2 = await get(`?limit=25&before=${p1.json.next_cursor}`);
      assert.deepEqual(p2.json.messages.map((m) => m.content), Array.from({ length: 25 }, (_, i) => `n${34 - i}`));
      const p3 = await get(`?limit=25&before=${p2.json.next_cursor}`);
      assert.equal(p3.json.messages.length, 10);
      assert.equal(p3.json.messages[9].content, 'n0');
      assert.equal(p3.json.next_cursor, null);
      const big = await get('?limit=1000');
      assert.equal(big.json.messages.length, 60 > 100 ? 100 : 60);
      for (const m of big.json.messages) {
        assert.deepEqual(Object.keys(m).sort(), ['channel_id', 'content', 'message_id', 'sender_id', 'sent_at']);
        assert.match(m.sent_at, RFC3339);
      }
      // another player (who never joined) can read an open room
      const other = await h.authed(server);
      assert.equal((await server.http('GET', `/v1/chat/${room}/messages?limit=1`, undefined, bearer(other))).json.messages[0].content, 'n59');
      // unknown cursor: an empty page
      assert.deepEqual((await get(`?before=${crypto.randomUUID()}`)).json.messages, []);
      // errors
      for (const q of ['?limit=0', '?limit=abc', '?limit=-5', '?before=nope']) {
        const r = await get(q);
        assert.equal(r.status, 400, `${q}: ${r.text}`);
        assert.equal(r.json.error.code, 'bad_request');
      }
      const badCh = await server.http('GET', `/v1/chat/${'x'.repeat(65)}/messages`, undefined, bearer(a));
      assert.equal(badCh.status, 400);
      const unauth = await server.http('GET', `/v1/chat/${room}/messages`);
      assert.equal(unauth.status, 401);
      assert.equal(unauth.json.error.code, 'unauthorized');
    });
  });
});
