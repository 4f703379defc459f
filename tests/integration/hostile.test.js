'use strict';
// Hostile clients (issue 9): every client message type gets wrong JSON types for each field,
// missing and extra fields, huge strings and arrays, deep nesting, out-of-range numbers, invalid
// UTF-8, binary, fragmented and oversized frames, and each gets an error (or the documented close)
// while the server keeps serving a bystander. Floods meet the rate limits; a reader that stops
// reading is cut off at --outbound-limit without the server's memory growing; slowloris HTTP is
// timed out; 10,000 connect/authenticate/disconnect cycles leave RSS where it was.
//
// The message types and their field tables come from `moonbase describe` (tests/integration/
// registry.js), so a new message type is attacked as soon as the binary registers it.
// A server bug found here and not fixed yet is kept as a `todo` test (it runs and reports, but
// does not fail the suite); none at the moment.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const MAX_MESSAGE = 65536; // --max-message-bytes default
const MAX_DEPTH = 32; // --max-json-depth default
const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const fdCount = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
// ASan keeps freed memory in quarantine (256 MiB by default), which would look like growth
const serverEnv = () => ({ ASAN_OPTIONS: `${process.env.ASAN_OPTIONS || 'detect_leaks=1'}:quarantine_size_mb=8` });
const log = (...a) => console.log('#', ...a);

// ---- message types and their fields, from the binary's registry (`moonbase describe`) ----------
const TYPES = require('./registry').messageTypes();
// The types of issue 9; chat.* and presence.update are attacked when their modules exist.
const EXPECTED = ['session.connect', 'session.heartbeat', 'match.join', 'match.input', 'match.leave', 'matchmaker.add',
  'matchmaker.remove', 'vote.cast', 'vote.veto', 'chat.join', 'chat.leave', 'chat.send', 'presence.update'];

function validValue(f) {
  switch (f.type) {
    case 'STRING': return 'v'.repeat(Math.max(3, f.min || 0));
    case 'INTEGER': return Math.max(0, f.min || 0);
    case 'NUMBER': return f.min || 0;
    case 'BOOL': return true;
    case 'OBJECT': return {};
    case 'ARRAY': return [];
    case 'STRING_OR_ARRAY': return 'v';
    default: return 'v';
  }
}
const validPayload = (spec) => Object.fromEntries(spec.fields.map((f) => [f.name, validValue(f)]));
const WRONG = {
  STRING: [12, -1.5, true, false, [], ['a'], {}, { a: 'b' }],
  INTEGER: ['1', 1.5, true, [], {}],
  NUMBER: ['1', true, [], {}],
  BOOL: [1, 0, 'true', [], {}],
  OBJECT: ['s', 3, true, [], [{}]],
  ARRAY: ['s', 3, true, {}],
  STRING_OR_ARRAY: [3, true, {}],
  ANY: [],
};
const nest = (n) => {
  let v = 1;
  for (let i = 0; i < n; i++) v = i % 2 ? { k: v } : [v];
  return v;
};

function assertErrorReply(reply, cid, type, codes, messageRe, what) {
  const ctx = `${what}: ${JSON.stringify(reply).slice(0, 300)}`;
  assert.equal(reply.cid, cid, ctx);
  assert.equal(reply.type, 'error', ctx);
  assert.ok(codes.includes(reply.payload.code), ctx);
  assert.equal(reply.payload.request_type, type, ctx);
  assert.equal(typeof reply.payload.message, 'string', ctx);
  if (messageRe) assert.match(reply.payload.message, messageRe, ctx);
}

/** The bystander still gets answers, quickly. */
/** Waits until GET /metrics matches every regexp of `want` (fails with the last text); returns it. */
async function metricsShow(server, want, ms = 15000) {
  let text = '';
  await h.waitFor(`/metrics showing ${want.join(' ')}`, async () => {
    text = (await server.http('GET', '/metrics')).text;
    return want.every((re) => re.test(text));
  }, ms).catch((e) => assert.fail(`${e.message}\n${text.split('\n').filter((l) => /^moonbase_(sessions|connections) /.test(l)).join('\n')}`));
  return text;
}

async function bystanderOk(by, server) {
  const t0 = Date.now();
  const r = await by.ws.request('session.heartbeat', {}, { timeoutMs: 5000 });
  assert.equal(r.type, 'session.heartbeat', JSON.stringify(r));
  assert.equal((await server.http('GET', '/healthz')).status, 200);
  return Date.now() - t0;
}

// ---------------------------------------------------------------------------------------------
describe('every client message type, attacked field by field', () => {
  let server;
  let bystander;
  let attacker; // authenticated
  let cidN = 0;
  const cid = () => `h${++cidN}`;

  before(async () => {
    server = await h.startServer({
      env: serverEnv(),
      args: ['--msg-rate', '100000', '--msg-burst', '100000', '--chat-rate', '10000', '--input-rate', '10000', '--auth-rate', '100000',
        '--auth-timeout-ms', '120000'],
    });
    bystander = await h.authed(server);
    attacker = await h.authed(server);
  });
  after(async () => {
    if (attacker) await attacker.ws.close();
    if (bystander) await bystander.ws.close();
    if (server) assert.equal(await server.stop(), 0);
  });

  it('the registry declares the message types of issue 9 (those whose modules exist)', async () => {
    const missing = EXPECTED.filter((t) => !TYPES.has(t));
    for (const t of missing) assert.ok(/^(chat|presence)\./.test(t), `${t} is not declared anywhere`);
    log(`message types under attack: ${[...TYPES.keys()].join(', ')}`);
    // every declared type is wired into the binary (none answers "unknown message type")
    for (const t of TYPES.keys()) {
      const r = await attacker.ws.request(t, { zz: 1 });
      assert.notEqual(r.payload && r.payload.code, 'unsupported', `${t} (module ${TYPES.get(t).module}) is not registered`);
    }
  });

  it('before session.connect every type but session.connect is unauthorized', async () => {
    const ws = await server.ws();
    for (const [t, spec] of TYPES) {
      if (spec.beforeAuth) continue;
      const c = cid();
      assertErrorReply(await ws.request(t, validPayload(spec), { cid: c }), c, t, ['unauthorized'], null, t);
    }
    await ws.close();
  });

  for (const [type, spec] of TYPES) {
    it(`${type}: missing, null, wrong-typed, too long, too many, too deep, out of range, bad UTF-8, extra fields`, async () => {
      // session.connect is attacked before authentication (on an authenticated socket it says conflict)
      const ws = type === 'session.connect' ? await server.ws() : attacker.ws;
      const send = async (payload, what, codes, re) => {
        const c = cid();
        const reply = await ws.request(type, payload, { cid: c, timeoutMs: 10000 });
        assertErrorReply(reply, c, type, codes, re, `${type} ${what}`);
        return reply;
      };
      const valid = validPayload(spec);
      let n = 0;
      for (const f of spec.fields) {
        const without = { ...valid };
        delete without[f.name];
        if (f.required) {
          await send(without, `without ${f.name}`, ['bad_request'], new RegExp(`missing field '${f.name}'`));
          await send({ ...valid, [f.name]: null }, `${f.name}: null`, ['bad_request'], new RegExp(`missing field '${f.name}'`));
          n += 2;
        }
        for (const w of WRONG[f.type] || []) {
          await send({ ...valid, [f.name]: w }, `${f.name}: ${JSON.stringify(w)}`, ['bad_request'], new RegExp(`field '${f.name}' must be`));
          n++;
        }
        if (f.type === 'STRING' && f.max > 0) {
          await send({ ...valid, [f.name]: 'é'.repeat(f.max + 1) }, `${f.name}: ${f.max + 1} characters`, ['bad_request'], /characters long/);
          n++;
        }
        if ((f.type === 'OBJECT' || f.type === 'ARRAY') && f.max > 0) {
          const big = f.type === 'OBJECT' ? Object.fromEntries(Array.from({ length: f.max + 1 }, (_, i) => [`k${i}`, i])) : Array.from({ length: f.max + 1 }, (_, i) => i);
          await send({ ...valid, [f.name]: big }, `${f.name}: ${f.max + 1} items`, ['bad_request'], /more than/);
          n++;
        }
        // a huge value (still under the message limit): validation or the handler refuses it
        const huge = f.type === 'OBJECT' ? { pad: 'x'.repeat(60000) } : f.type === 'ARRAY' || f.type === 'ANY' ? Array.from({ length: 12000 }, () => 1) : 'x'.repeat(60000);
        {
          const c = cid();
          const reply = await ws.request(type, { ...valid, [f.name]: huge }, { cid: c, timeoutMs: 10000 });
          assert.equal(reply.cid, c);
          if (f.type === 'STRING' || f.type === 'ANY') assert.equal(reply.type, 'error', `${type} ${f.name} huge: ${JSON.stringify(reply).slice(0, 200)}`);
          n++;
        }
        // numbers out of range: a wrong type for a string, the handler's problem for "any"
        for (const big of [1e308, -1e308, 2 ** 62, -(2 ** 62), 5e-324, -0]) {
          const c = cid();
          const reply = await ws.request(type, { ...valid, [f.name]: big }, { cid: c, timeoutMs: 10000 });
          assert.equal(reply.cid, c);
          if (['STRING', 'OBJECT', 'ARRAY', 'BOOL'].includes(f.type)) assert.equal(reply.payload.code, 'bad_request', `${type} ${f.name}=${big}`);
          n++;
        }
        // deep nesting inside the field
        await send({ ...valid, [f.name]: nest(MAX_DEPTH + 2) }, `${f.name}: nested`, ['bad_request'], /nested deeper than 32 levels/);
        n++;
      }
      // extra fields are ignored (no validation error names them); one reply each
      for (const extra of [{ zz_extra: 1 }, { zz_extra: nest(10) }, { zz_extra: 'x'.repeat(30000) }, { zz_extra: Array.from({ length: 8000 }, (_, i) => i) },
        { constructor: 'x', ['__proto__']: { polluted: true }, hasOwnProperty: 1 }]) {
        const c = cid();
        const reply = await ws.request(type, { ...valid, ...extra }, { cid: c, timeoutMs: 10000 });
        assert.equal(reply.cid, c, JSON.stringify(reply).slice(0, 200));
        if (reply.type === 'error') assert.doesNotMatch(reply.payload.message, /zz_extra|constructor|hasOwnProperty/, `${type} extra: ${reply.payload.message}`);
        n++;
      }
      // an extra field nested too deep: the whole message is refused
      await send({ ...valid, zz_extra: nest(MAX_DEPTH) }, 'extra nested', ['bad_request'], /nested deeper/);
      // \u0000 is valid JSON: the message is read, so its reply carries the cid (an extra field
      // holding it is ignored like any extra field; declared strings refuse it)
      ws.sendRaw(`{"cid":"q5","type":"${type}","payload":{"zz_nul":"a\\u0000b"}}`);
      assert.equal((await ws.next((m) => m.cid === 'q5', 5000)).cid, 'q5');
      n++;
      // numbers jansson cannot hold, lone surrogates: invalid JSON (no cid: it could not be read)
      for (const raw of [
        `{"cid":"q1","type":"${type}","payload":{"n":1e400}}`,
        `{"cid":"q2","type":"${type}","payload":{"n":123456789012345678901234567890}}`,
        `{"cid":"q3","type":"${type}","payload":{"s":"\\ud800"}}`,
        `{"cid":"q4","type":"${type}","payload":{"s":"\\udc00\\ud800"}}`,
        `{"cid":"q6","type":"${type}","payload":{"n":18446744073709551616}}`,
      ]) {
        ws.sendRaw(raw);
        const r = await ws.next((m) => m.type === 'error' && !m.cid && /^invalid JSON/.test(m.payload.message || ''), 5000);
        assert.equal(r.payload.code, 'bad_request', raw);
        assert.match(r.payload.message, /^invalid JSON/, raw);
        assert.ok(!('cid' in r), raw);
        n++;
      }
      // a binary frame holding a valid message: refused, the socket stays
      ws.sendRaw(Buffer.from(JSON.stringify({ cid: 'bin', type, payload: valid })), { binary: true });
      const b = await ws.next((m) => m.type === 'error' && /binary frames/.test(m.payload.message || ''), 5000);
      assert.ok(!('cid' in b));
      // the same message in fragments gets the same answer as in one frame
      const c1 = cid();
      const whole = await ws.request(type, { ...valid, zz_extra: 'fragmented' }, { cid: c1, timeoutMs: 10000 });
      const c2 = cid();
      const text = JSON.stringify({ cid: c2, type, payload: { ...valid, zz_extra: 'fragmented' } });
      const third = Math.ceil(text.length / 3);
      const frag = ws.next((m) => m.cid === c2, 10000);
      ws.socket.send(text.slice(0, third), { fin: false });
      ws.socket.send(text.slice(third, 2 * third), { fin: false });
      ws.socket.send(text.slice(2 * third), { fin: true });
      const fr = await frag;
      assert.equal(fr.type, whole.type, `${type} fragmented: ${JSON.stringify(fr).slice(0, 200)} vs ${JSON.stringify(whole).slice(0, 200)}`);
      if (fr.type === 'error') assert.equal(fr.payload.code, whole.payload.code);
      n += 3;
      assert.ok(ws.isOpen, `${type}: the socket survived ${n} hostile messages`);
      if (type === 'session.connect') await ws.close();
      await bystanderOk(bystander, server);
    });

    it(`${type}: invalid UTF-8 in a text frame closes with 1007; over ${MAX_MESSAGE} bytes with 1009; others unaffected`, async () => {
      const s1 = await h.authed(server);
      const body = Buffer.from(JSON.stringify({ type, payload: { ...validPayload(spec), s: 'XX' } }));
      const i = body.indexOf('XX');
      body[i] = 0xc3; // a lead byte followed by a non-continuation
      body[i + 1] = 0x28;
      s1.ws.sendRaw(body, { binary: false });
      assert.equal((await s1.ws.waitClosed(5000)).code, 1007);
      const s2 = await h.authed(server);
      s2.ws.send(JSON.stringify({ type, payload: { ...validPayload(spec), pad: 'x'.repeat(MAX_MESSAGE) } }));
      assert.equal((await s2.ws.waitClosed(5000)).code, 1009);
      await bystanderOk(bystander, server);
    });
  }

  // found by fuzz_envelope / fuzz_rest_body: jansson's error text could end in half a UTF-8
  // sequence, and the reply lost its message (fixed: mb_utf8_sanitize)
  it('an error reply always carries its message (valid UTF-8 input with a bad escape)', async () => {
    const p = await h.authed(server);
    p.ws.sendRaw('{"cid":"u8","type":"match.join","payload":{"match_id":"\\🚀"}}');
    const r = await p.ws.next('error', 5000);
    await p.ws.close();
    assert.equal(r.payload.code, 'bad_request');
    assert.equal(typeof r.payload.message, 'string', `error without message: ${JSON.stringify(r)}`);
  });

  it('a REST error always has a JSON body (valid UTF-8 body with a bad escape)', async () => {
    const res = await server.http('POST', '/v1/auth/device', '{"device_id":"\\🚀"}');
    assert.equal(res.status, 400);
    assert.equal(res.json && res.json.error && res.json.error.code, 'bad_request', `body: ${JSON.stringify(res.text)}`);
    assert.match(res.json.error.message, /^invalid JSON body/);
  });
});

// ---------------------------------------------------------------------------------------------
describe('floods meet the rate limits', () => {
  let server;
  before(async () => {
    server = await h.startServer({
      env: serverEnv(),
      args: ['--msg-rate', '20', '--msg-burst', '20', '--input-rate', '5', '--chat-rate', '3', '--auth-rate', '100000'],
    });
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  it('500 messages of every type at once: one reply per cid, most rate_limited, the socket stays, a bystander is served', async () => {
    const by = await h.authed(server);
    const a = await h.authed(server);
    const types = [...TYPES.keys()];
    const n = 500;
    const replies = [];
    for (let i = 0; i < n; i++) {
      const t = types[i % types.length];
      replies.push(a.ws.next((m) => m.cid === `f${i}`, 15000));
      a.ws.send({ cid: `f${i}`, type: t, payload: validPayload(TYPES.get(t)) });
    }
    const got = await Promise.all(replies);
    const limited = got.filter((r) => r.type === 'error' && r.payload.code === 'rate_limited').length;
    log(`message flood: ${n} sent, ${limited} rate_limited, ${n - limited} handled`);
    assert.ok(limited >= n - 60, `rate_limited: ${limited}`);
    assert.ok(n - limited >= 15, `the burst was served: ${n - limited}`);
    await a.ws.expectNone((m) => /^f\d+$/.test(m.cid || ''), 300); // no second reply to any cid
    assert.ok(a.ws.isOpen);
    const ms = await bystanderOk(by, server);
    assert.ok(ms < 2000, `bystander answered in ${ms} ms`);
    // the bucket refills (a refused message takes no token)
    await h.waitFor('the bucket refills: a heartbeat is answered',
      async () => (await a.ws.request('session.heartbeat', {})).type === 'session.heartbeat', 10000, 100);
    await a.ws.close();
    await by.ws.close();
  });

  it('session.connect flood with forged tokens on one socket: unauthorized, then rate_limited; the socket can still connect later', async () => {
    const ws = await server.ws();
    const me = (await server.http('POST', '/v1/auth/device', { device_id: `dev-${crypto.randomBytes(6).toString('hex')}` })).json;
    const forged = `${me.token.slice(0, -4)}AAAA`;
    const replies = [];
    for (let i = 0; i < 100; i++) {
      replies.push(ws.next((m) => m.cid === `sc${i}`, 10000));
      ws.send({ cid: `sc${i}`, type: 'session.connect', payload: { token: forged } });
    }
    const got = await Promise.all(replies);
    const codes = got.map((r) => r.payload.code);
    assert.ok(codes.every((c) => c === 'unauthorized' || c === 'rate_limited'), JSON.stringify(codes));
    assert.ok(codes.filter((c) => c === 'rate_limited').length >= 70, JSON.stringify(codes));
    // once the bucket has refilled, the socket can still connect
    await h.waitFor('session.connect accepted after the refill', async () => {
      const r = await ws.request('session.connect', { token: me.token });
      if (r.type === 'error') assert.equal(r.payload.code, 'rate_limited', JSON.stringify(r));
      return r.type === 'session.connected';
    }, 10000, 100);
    await ws.close();
  });

  it('match.input flood (--input-rate 5): rate_limited beyond the rate, the match keeps ticking', async () => {
    const a = await h.authed(server);
    const m = await server.http('POST', '/v1/matches', { mode: 'arena' }, { authorization: `Bearer ${a.token}` });
    assert.equal(m.status, 201, m.text);
    assert.equal((await a.ws.request('match.join', { match_id: m.json.match_id })).type, 'match.joined');
    // a fresh socket: connect and join took 2 of its 20 message tokens (--msg-burst 20, per
    // connection), so the 15 inputs below fit in the rest and only --input-rate limits them
    const replies = [];
    for (let i = 0; i < 15; i++) {
      replies.push(a.ws.next((x) => x.cid === `in${i}`, 10000));
      a.ws.send({ cid: `in${i}`, type: 'match.input', payload: { action: 'move', x: 1e308, y: -0, seq: 2 ** 60 } });
    }
    const got = await Promise.all(replies);
    const limited = got.filter((r) => r.type === 'error' && r.payload.code === 'rate_limited').length;
    assert.ok(limited >= 8, JSON.stringify(got.map((r) => r.type === 'error' ? r.payload.code : r.type)));
    assert.ok(got.some((r) => r.type === 'match.input_ack'));
    await a.ws.close();
  });

  it('chat.send flood (--chat-rate 3): rate_limited beyond the rate', { skip: !TYPES.has('chat.send') && 'no chat module' }, async () => {
    const a = await h.authed(server);
    const room = `hostile-${crypto.randomBytes(4).toString('hex')}`;
    const j = await a.ws.request('chat.join', { channel_id: room });
    assert.notEqual(j.type, 'error', JSON.stringify(j));
    // a fresh socket: connect and join took 2 of its 20 message tokens, the 12 sends fit in the
    // rest, so only --chat-rate limits them
    const replies = [];
    for (let i = 0; i < 12; i++) {
      replies.push(a.ws.next((x) => x.cid === `ch${i}`, 10000));
      a.ws.send({ cid: `ch${i}`, type: 'chat.send', payload: { channel_id: room, content: `spam ${i}` } });
    }
    const got = await Promise.all(replies);
    const limited = got.filter((r) => r.type === 'error' && r.payload.code === 'rate_limited').length;
    assert.ok(limited >= 6, JSON.stringify(got.map((r) => (r.type === 'error' ? r.payload.code : r.type))));
    await a.ws.close();
  });

  it('connections beyond --max-connections are refused; the server recovers and leaks no connection', async () => {
    const small = await h.startServer({ env: serverEnv(), args: ['--max-connections', '40'] });
    try {
      const before = fdCount(small.pid);
      const open = [];
      let refused = 0;
      for (let i = 0; i < 50; i++) {
        try {
          open.push(await small.ws('/ws', { timeoutMs: 5000 }));
        } catch {
          refused++;
        }
      }
      log(`connection flood: 50 connections one after another, ${open.length} accepted, ${refused} refused (--max-connections 40)`);
      assert.equal(open.length, 40);
      assert.equal(refused, 10);
      assert.match(small.logs(), /event=connection_refused reason=max_connections limit=40/);
      await Promise.all(open.map((w) => w.close()));
      // the server has counted the 40 closed sockets out (only the /metrics request is left)
      await metricsShow(small, [/^moonbase_connections 1$/m, /^moonbase_sessions 0$/m]);
      const s = await h.authed(small);
      assert.equal((await s.ws.request('session.heartbeat', {})).type, 'session.heartbeat');
      await s.ws.close();
      // sessions 0, and connections 1: only this /metrics request
      await metricsShow(small, [/^moonbase_sessions 0$/m, /^moonbase_connections 1$/m]);
      assert.ok(fdCount(small.pid) <= before + 2, `fds ${before} -> ${fdCount(small.pid)}`);
    } finally {
      assert.equal(await small.stop(), 0);
    }
  });

  it('connections opened all at once cannot exceed --max-connections either', async () => {
    const small = await h.startServer({ env: serverEnv(), args: ['--max-connections', '40'] });
    try {
      const attempts = await Promise.allSettled(Array.from({ length: 80 }, () => small.ws('/ws', { timeoutMs: 5000 })));
      const open = attempts.filter((a) => a.status === 'fulfilled').map((a) => a.value);
      await Promise.all(open.map((w) => w.close()));
      assert.ok(open.length <= 40, `${open.length} of 80 parallel connections accepted`);
    } finally {
      await small.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('a client that stops reading', () => {
  let server;
  let scripts;
  let slowClose; // how the slow reader saw its socket close, once it read again
  const LIMIT = 512 * 1024;
  before(async () => {
    // the repo's scripts plus a mode with a 16 KiB state at 60 Hz (about 1 MB/s per player)
    scripts = fs.mkdtempSync(path.join(os.tmpdir(), 'moonbase-hostile-scripts-'));
    fs.cpSync(path.join(h.REPO_ROOT, 'scripts'), scripts, { recursive: true });
    fs.writeFileSync(path.join(scripts, 'modes', 'flood.lua'), `-- hostile.test.js: a big state at 60 Hz
local M = { tick_rate = 60, players = { min = 1, max = 8 }, empty_timeout_ms = 60000 }
local pad = string.rep("x", 16384)
function M.init(match, params) return { n = 0 } end
function M.tick(match, state, tick) state.n = tick end
function M.get_state(match, state) return { n = state.n, pad = pad } end
return M
`);
    server = await h.startServer({ scripts, env: serverEnv(), args: ['--outbound-limit', String(LIMIT)] });
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
    fs.rmSync(scripts, { recursive: true, force: true });
  });

  it(`is cut off once its queue passes --outbound-limit (${LIMIT / 1024} KiB); memory stays flat; the other player keeps getting match.state`, async () => {
    const slow = await h.authed(server);
    const good = await h.authed(server);
    const m = await server.http('POST', '/v1/matches', { mode: 'flood' }, { authorization: `Bearer ${slow.token}` });
    assert.equal(m.status, 201, m.text);
    for (const p of [slow, good]) assert.equal((await p.ws.request('match.join', { match_id: m.json.match_id })).type, 'match.joined');
    const first = await slow.ws.next('match.state', 5000);
    // warm-up before the memory baseline: a second of ticks (60 Hz) has reached the reader
    await slow.ws.next((x) => x.type === 'match.state' && x.payload.tick >= first.payload.tick + 60, 15000);
    const base = rssKb(server.pid);
    const logFrom = server.logs().length;
    slow.ws.socket._socket.pause(); // stop reading: the kernel buffers fill, then the server's queue
    const t0 = Date.now();
    const cut = server.waitForLog(/event=slow_client_closed/, 60000, { from: logFrom });
    let peak = base;
    let states = 0;
    good.ws.socket.on('message', () => states++);
    let line;
    const sampler = setInterval(() => (peak = Math.max(peak, rssKb(server.pid))), 200);
    const beat = setInterval(() => good.ws.send({ type: 'session.heartbeat', payload: {} }), 2000);
    try {
      line = await cut;
      const cutMs = Date.now() - t0;
      // keep pausing a few seconds more: nothing may grow (a fixed wait on purpose: the point is
      // that nothing happens to the server's memory meanwhile)
      await h.sleep(3000);
      const after = rssKb(server.pid);
      const stateRate = states / ((Date.now() - t0) / 1000);
      log(`slow reader: cut off after ${cutMs} ms (${line.replace(/^.*event=/, '')}); server RSS ${base} kB -> peak ${peak} kB -> ${after} kB; the other player got ${stateRate.toFixed(1)} states/s`);
      assert.match(line, new RegExp(`session=\\d+ queued_bytes=\\d+`));
      const queued = Number(/queued_bytes=(\d+)/.exec(line)[1]);
      assert.ok(queued <= LIMIT, `queued ${queued}`);
      assert.ok(peak - base < 48 * 1024, `RSS grew by ${peak - base} kB while one client did not read`);
      assert.ok(stateRate > 30, `the other player got ${stateRate.toFixed(1)} match.state/s (60 Hz mode)`);
      assert.ok(good.ws.isOpen, 'the reading player is not cut off');
      // only the slow one was cut
      assert.equal((server.logs().slice(logFrom).match(/event=slow_client_closed/g) || []).length, 1);
    } finally {
      clearInterval(sampler);
      clearInterval(beat);
      slow.ws.socket._socket.resume();
    }
    slowClose = await slow.ws.waitClosed(20000);
    assert.ok([1006, 1008].includes(slowClose.code), JSON.stringify(slowClose));
    await good.ws.close();
  });

  it('once it reads again it finds the socket closed: 1008 "outbound queue full", or 1006 when the server had to drop it unread (docs/PROTOCOL.md)', () => {
    if (slowClose.code === 1008) assert.deepEqual(slowClose, { code: 1008, reason: 'outbound queue full' });
    else assert.equal(slowClose.code, 1006);
  });

  it('its connection (fd, queue) is released while it still does not read', async () => {
    // its own server with a 3 s idle timeout: the slow socket is both over the limit and idle
    const srv = await h.startServer({ scripts, env: serverEnv(), args: ['--outbound-limit', String(LIMIT), '--idle-timeout-ms', '3000'] });
    const slow = await h.authed(srv);
    try {
      const m = await srv.http('POST', '/v1/matches', { mode: 'flood' }, { authorization: `Bearer ${slow.token}` });
      assert.equal((await slow.ws.request('match.join', { match_id: m.json.match_id })).type, 'match.joined');
      await slow.ws.next('match.state', 5000);
      const logFrom = srv.logs().length;
      slow.ws.socket._socket.pause();
      await srv.waitForLog(/event=(slow_client_closed|session_idle_timeout)/, 30000, { from: logFrom });
      // the server must let go of the socket within a few seconds, reading or not
      await srv.waitForLog(/event=session_closed session=\d+ player=/, 8000, { from: logFrom });
    } finally {
      slow.ws.socket._socket.resume();
      await srv.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('slowloris and half-open HTTP', () => {
  let server;
  before(async () => {
    server = await h.startServer({ env: serverEnv() });
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  const open = (port) =>
    new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.on('error', () => {});
      s.once('error', reject);
    });
  const closedWithin = (s, ms) =>
    new Promise((resolve) => {
      if (s.destroyed) return resolve(true);
      const t = setTimeout(() => resolve(false), ms);
      s.once('close', () => {
        clearTimeout(t);
        resolve(true);
      });
    });

  it('partial headers, a header byte per second, silence, a partial upgrade, a half body: closed within 15 s; 200 of them do not stop the server', async () => {
    const t0 = Date.now();
    const kinds = {
      'partial headers': (s) => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'),
      'header trickle': (s) => {
        s.write('GET /healthz HTTP/1.1\r\nX-Slow: ');
        const iv = setInterval(() => (s.destroyed ? clearInterval(iv) : s.write('a')), 1000);
        s.once('close', () => clearInterval(iv));
      },
      silent: () => {},
      'partial upgrade': (s) => s.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'),
      'half body': (s) => s.write('POST /v1/auth/device HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"dev'),
    };
    const socks = [];
    for (let i = 0; i < 200; i++) {
      const [name, start] = Object.entries(kinds)[i % 5];
      const s = await open(server.port);
      start(s);
      socks.push({ name, s, closed: closedWithin(s, 16000) });
    }
    // the server serves others meanwhile
    for (let i = 0; i < 5; i++) {
      const t = Date.now();
      assert.equal((await server.http('GET', '/healthz')).status, 200);
      const p = await h.authed(server);
      await p.ws.close();
      assert.ok(Date.now() - t < 3000, 'served promptly');
      await h.sleep(300); // pacing on purpose: the probes are spread over the attack, not a wait for a condition
    }
    const results = await Promise.all(socks.map((x) => x.closed));
    const open_ = socks.filter((x, i) => !results[i]).map((x) => x.name);
    log(`slowloris: 200 sockets, all closed by the server within ${Date.now() - t0} ms; still open: ${open_.length}`);
    socks.forEach((x) => x.s.destroy());
    assert.deepEqual([...new Set(open_)], [], 'kinds left open');
    const metrics = (await server.http('GET', '/metrics')).text;
    assert.match(metrics, /^moonbase_connections 1$/m);
  });

  it('a body sent a byte per second (slow POST) is timed out too', async () => {
    const s = await open(server.port);
    s.write('POST /v1/auth/device HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n');
    const iv = setInterval(() => (s.destroyed ? clearInterval(iv) : s.write(' ')), 1000);
    try {
      assert.ok(await closedWithin(s, 16000), 'still open after 16 s (headers time out after 10 s)');
    } finally {
      clearInterval(iv);
      s.destroy();
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('10,000 connect / authenticate / disconnect cycles', () => {
  it('leave the server RSS and fd count where they started', { timeout: 600000 }, async () => {
    const server = await h.startServer({ logLevel: 'info', env: serverEnv(), args: ['--auth-rate', '1000000'] });
    try {
      const PARALLEL = 200;
      const TOTAL = 10000;
      const tokens = [];
      for (let i = 0; i < PARALLEL; i++) {
        const r = await server.http('POST', '/v1/auth/device', { device_id: `cycle-${i}-${crypto.randomBytes(4).toString('hex')}` });
        tokens.push(r.json.token);
      }
      let errors = 0;
      const run = async (n) => {
        let next = 0;
        await Promise.all(tokens.map(async (tok) => {
          while (next < n) {
            next++;
            try {
              const ws = await server.ws('/ws', { timeoutMs: 30000 });
              const r = await ws.request('session.connect', { token: tok }, { timeoutMs: 30000 });
              if (r.type !== 'session.connected') errors++;
              await ws.close(1000, '', 30000);
            } catch {
              errors++;
            }
          }
        }));
      };
      await run(1000); // warm-up: pools, caches and allocator arenas reach their size
      await metricsShow(server, [/^moonbase_sessions 0$/m, /^moonbase_connections 1$/m]); // every cycle's socket freed
      const base = rssKb(server.pid);
      const fds = fdCount(server.pid);
      const t0 = Date.now();
      const samples = [];
      for (let k = 0; k < TOTAL / 1000; k++) {
        await run(1000);
        samples.push(rssKb(server.pid));
      }
      const ms = Date.now() - t0;
      await metricsShow(server, [/^moonbase_sessions 0$/m, /^moonbase_connections 1$/m]);
      const end = rssKb(server.pid);
      log(`10,000 cycles (${PARALLEL} in parallel) in ${ms} ms (${Math.round(TOTAL / (ms / 1000))}/s), errors ${errors}; ` +
        `server RSS after warm-up ${base} kB, per 1000: ${samples.join(' ')} kB, end ${end} kB (${end - base >= 0 ? '+' : ''}${end - base} kB); fds ${fds} -> ${fdCount(server.pid)}`);
      assert.equal(errors, 0);
      assert.ok(end - base < 8 * 1024, `RSS grew ${end - base} kB over 10,000 cycles`);
      // no trend: the last samples are not above the first by more than the bound either
      assert.ok(Math.max(...samples.slice(-3)) - Math.min(...samples.slice(0, 3)) < 8 * 1024, samples.join(' '));
      assert.ok(fdCount(server.pid) <= fds + 2, 'no fd leak');
      const metrics = (await server.http('GET', '/metrics')).text;
      assert.match(metrics, /^moonbase_sessions 0$/m);
      const opened = Number(/^moonbase_sessions_total (\d+)/m.exec(metrics)[1]);
      assert.ok(opened >= TOTAL + 1000, `sessions_total ${opened}`);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
