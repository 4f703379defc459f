'use strict';
// Durability of chat and social writes when PostgreSQL goes away (docs/SOCIAL.md "Durability"):
// PostgreSQL stops in the middle of a chat burst and comes back; every acknowledged message is
// in the history, nothing unacknowledged is (nor was it broadcast), every request got exactly one
// reply, and chat, friends, notifications and presence work again without a restart.
// Uses a private cluster (privatePostgres): stopping the shared one would break other files.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');
const h = require('./harness');

const RECOVERY_MS = 25000; // the pool's reconnect backoff is capped at 5 s
const GRACE_MS = 2000;
const bearer = (p) => ({ authorization: `Bearer ${p.token}` });

function psqlIn(url, query) {
  return new Promise((resolve, reject) => {
    execFile('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', query], { timeout: 30000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout.trim())
    );
  });
}

async function until(what, fn, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`${what} within ${ms} ms`);
    await h.sleep(100);
  }
}

async function metric(server, name) {
  const m = await server.http('GET', '/metrics');
  const line = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(m.text);
  return line ? Number(line[1]) : NaN;
}

describe('social writes across a PostgreSQL outage', () => {
  let pg;
  let dbUrl;
  let server;
  let scriptsDir;
  before(async () => {
    scriptsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-faults-scripts-'));
    fs.mkdirSync(path.join(scriptsDir, 'modes'));
    fs.writeFileSync(
      path.join(scriptsDir, 'server.lua'),
      `local moonbase = require("moonbase")
moonbase.rpc("notify", function(ctx, p)
  local ok, err = moonbase.notify(ctx.player_id, "ping", "Ping", { n = p.n })
  return { ok = ok or false, err = err }
end)
`
    );
    pg = await h.privatePostgres();
    dbUrl = await pg.createDatabase();
    server = await h.startServer({
      databaseUrl: dbUrl,
      scripts: scriptsDir,
      args: ['--auth-rate', '100000', '--chat-rate', '1000', '--msg-rate', '1000', '--msg-burst', '1000'],
    });
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
    if (pg) await pg.destroy();
    fs.rmSync(scriptsDir, { recursive: true, force: true });
  });

  it('PostgreSQL stops mid-burst: acknowledged = stored = broadcast, nothing else; everything recovers', async () => {
    const room = 'burst-room';
    const a = await h.authed(server, { username: 'sender_a' });
    const b = await h.authed(server, { username: 'reader_b' });
    const c = await h.authed(server, { username: 'friend_c' });
    await a.ws.ok('chat.join', { channel_id: room });
    await b.ws.ok('chat.join', { channel_id: room });
    // c and b are friends; c goes offline before the outage and comes back during it
    await server.http('POST', '/v1/friends', { player_id: c.player_id }, bearer(b));
    await server.http('POST', '/v1/friends', { player_id: b.player_id }, bearer(c));
    await b.ws.next((m) => m.type === 'presence.changed' && m.payload.player_id === c.player_id);
    await c.ws.close();
    await b.ws.next((m) => m.type === 'presence.changed' && m.payload.status === 'offline', GRACE_MS + 3000);

    // the burst: one message every 4 ms from a, each with its own cid
    const sent = []; // {content, reply promise}
    let sending = true;
    const burst = (async () => {
      for (let i = 0; sending; i++) {
        const content = `msg-${i}`;
        sent.push({ content, reply: a.ws.request('chat.send', { channel_id: room, content }, { cid: `s${i}`, timeoutMs: 60000 }) });
        await h.sleep(4); // pacing on purpose: the burst is spread over time
      }
    })();
    // replies of the burst seen so far: acknowledged (chat.message) and refused (unavailable)
    const burstReplies = (type, code) => a.ws.received.filter((m) => /^s\d+$/.test(m.cid || '') && m.type === type &&
      (!code || m.payload.code === code)).length;
    await until('60 sends acknowledged before the outage', async () => burstReplies('chat.message') >= 60, RECOVERY_MS);
    await pg.stop(); // in the middle of the burst
    // keep sending while it is down, until the server has refused a good number of them
    await until('20 sends refused while down', async () => burstReplies('error', 'unavailable') >= 20, RECOVERY_MS);

    // what needs the database says unavailable; presence does not need it
    const fr = await server.http('GET', '/v1/friends', undefined, bearer(b));
    assert.equal(fr.status, 503, fr.text);
    assert.equal(fr.json.error.code, 'unavailable');
    assert.equal((await server.http('GET', '/v1/notifications', undefined, bearer(b))).status, 503);
    assert.equal((await server.http('POST', '/v1/friends', { player_id: a.player_id }, bearer(b))).status, 503);
    const adm = await server.http('POST', '/v1/admin/notifications', { player_id: b.player_id, type: 't', subject: 's' },
      { authorization: `Bearer ${server.adminToken}` });
    assert.equal(adm.status, 503, adm.text);
    assert.deepEqual((await server.http('POST', '/v1/rpc/notify', { n: 0 }, bearer(b))).json, { ok: false, err: 'unavailable' });
    assert.equal((await server.http('GET', `/v1/chat/${room}/messages`, undefined, bearer(b))).status, 503);
    assert.deepEqual(await b.ws.ok('presence.update', { status: 'waiting' }), { status: 'waiting' });
    // c comes back while its friends cannot be read
    const c2 = await server.ws();
    await c2.ok('session.connect', { token: c.token });

    await pg.start();
    await until('/healthz 200', async () => (await server.http('GET', '/healthz')).status === 200, RECOVERY_MS);
    // once the database answers again, chat.send is acknowledged again
    await until('an acknowledged send after the restart', async () => {
      const last = sent[sent.length - 1];
      return last && (await last.reply).type === 'chat.message';
    }, RECOVERY_MS);
    const ackedSoFar = burstReplies('chat.message');
    await until('20 more sends acknowledged after the restart', async () => burstReplies('chat.message') >= ackedSoFar + 20, RECOVERY_MS);
    sending = false;
    await burst;

    const replies = await Promise.all(sent.map((s) => s.reply));
    const acked = new Map();
    const refused = new Set();
    replies.forEach((r, i) => {
      if (r.type === 'chat.message') acked.set(r.payload.message_id, sent[i].content);
      else {
        assert.equal(r.type, 'error', JSON.stringify(r));
        assert.equal(r.payload.code, 'unavailable', JSON.stringify(r));
        refused.add(sent[i].content);
      }
    });
    assert.ok(acked.size > 50, `acknowledged before and after the outage: ${acked.size}`);
    assert.ok(refused.size > 10, `refused while down: ${refused.size}`);
    // exactly one reply per cid (a second one would have arrived before this round trip's reply)
    await h.roundTrip(a.ws);
    for (let i = 0; i < sent.length; i++) assert.equal(a.ws.received.filter((m) => m.cid === `s${i}`).length, 1, `s${i}`);

    // b received exactly the acknowledged messages, in order
    const got = b.ws.received.filter((m) => m.type === 'chat.message').map((m) => m.payload);
    assert.deepEqual(got.map((m) => m.message_id), [...acked.keys()]);
    assert.ok(got.every((m) => !refused.has(m.content)));

    // the history holds exactly the acknowledged messages
    const history = [];
    let cursor = null;
    for (;;) {
      const r = await server.http('GET', `/v1/chat/${room}/messages?limit=100${cursor ? `&before=${cursor}` : ''}`, undefined, bearer(b));
      assert.equal(r.status, 200, r.text);
      history.push(...r.json.messages);
      cursor = r.json.next_cursor;
      if (!cursor) break;
    }
    assert.deepEqual(history.map((m) => m.message_id).reverse(), [...acked.keys()]);
    assert.deepEqual(history.map((m) => m.content).reverse(), [...acked.values()]);
    // and so does the table itself, once writes in doubt have been undone
    await until('undo queue drained', async () => (await metric(server, 'moonbase_social_undo_pending')) === 0, RECOVERY_MS);
    const rows = (await psqlIn(dbUrl, `SELECT content FROM chat_messages WHERE channel_id = '${room}' ORDER BY seq`)).split('\n').filter(Boolean);
    assert.deepEqual(rows, [...acked.values()]);

    // c's friends list was read once the database came back: b hears c online
    const cOnline = await b.ws.next((m) => m.type === 'presence.changed' && m.payload.player_id === c.player_id, RECOVERY_MS);
    assert.equal(cOnline.payload.status, 'online');
    // and b's status change during the outage reaches c
    await b.ws.ok('presence.update', { status: 'back' });
    assert.equal((await c2.next((m) => m.type === 'presence.changed' && m.payload.player_id === b.player_id)).payload.status, 'back');

    // friends, notifications and scripts work again without a restart
    const req = await server.http('POST', '/v1/friends', { player_id: a.player_id }, bearer(b));
    assert.equal(req.status, 200, req.text);
    assert.equal((await a.ws.next('notification.new')).payload.type, 'friend_request');
    assert.deepEqual((await server.http('POST', '/v1/rpc/notify', { n: 1 }, bearer(b))).json, { ok: true });
    assert.deepEqual((await b.ws.next((m) => m.type === 'notification.new' && m.payload.type === 'ping')).payload.content, { n: 1 });
    const inbox = await server.http('GET', '/v1/notifications', undefined, bearer(b));
    assert.equal(inbox.status, 200);
    assert.deepEqual(inbox.json.notifications.map((n) => n.type), ['ping', 'friend_accepted']);
    await c2.close();
  });

  it('a script notification queued while the statement fails is retried until it is stored, then delivered once', async () => {
    const p = await h.authed(server);
    // a slow INSERT keeps the batch in flight while PostgreSQL stops under it
    await psqlIn(dbUrl, `CREATE OR REPLACE FUNCTION slow_notif() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1.5); RETURN NEW; END $$;
      CREATE TRIGGER slow_notif BEFORE INSERT ON notifications FOR EACH ROW EXECUTE FUNCTION slow_notif();`);
    const r = await server.http('POST', '/v1/rpc/notify', { n: 42 }, bearer(p));
    assert.deepEqual(r.json, { ok: true });
    // the INSERT is in flight: its trigger sleeps in PostgreSQL
    await until('the notification INSERT in flight', async () =>
      Number(await psqlIn(dbUrl, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'")) >= 1, RECOVERY_MS);
    await pg.stop();
    // the server has seen the database go away
    await until('/healthz 503 while the database is down', async () => (await server.http('GET', '/healthz')).status === 503, RECOVERY_MS);
    await pg.start();
    await psqlIn(dbUrl, 'DROP TRIGGER slow_notif ON notifications');
    const n = await p.ws.next('notification.new', RECOVERY_MS);
    assert.deepEqual(n.payload.content, { n: 42 });
    await p.ws.expectNone('notification.new', 1000);
    const rows = await psqlIn(dbUrl, `SELECT count(*) FROM notifications WHERE player_id = '${p.player_id}'`);
    assert.equal(rows, '1');
    await p.ws.close();
  });
});
