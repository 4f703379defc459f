#!/usr/bin/env node
'use strict';
// Writes the checked-in seed corpora: tests/fuzz/corpus/<target>/seed-*. Run it again after
// adding a message type or changing a format (node tests/fuzz/seeds.js); files other than
// seed-* (inputs libFuzzer found and somebody kept) are left alone. Deterministic output.
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');

const ROOT = path.join(__dirname, 'corpus');
const corpora = {};
const add = (target, data) => (corpora[target] ||= []).push(typeof data === 'string' ? Buffer.from(data) : data);
const J = JSON.stringify;

// ---- fuzz_envelope: one valid message per type, then typical mistakes ----------------------
const messages = {
  'session.connect': { token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwMSJ9.c2ln' },
  'session.heartbeat': {},
  'match.join': { match_id: 'm-1', metadata: { skin: 'red' } },
  'match.input': { action: 'move', x: 10, y: 5, seq: 17 },
  'match.leave': {},
  'matchmaker.add': { mode: 'arena', properties: { skill: 1200, region: 'eu' } },
  'matchmaker.remove': { ticket_id: 't-1' },
  'vote.cast': { vote_id: 'v1', option_id: 'jungle' },
  'vote.veto': { vote_id: 'v1' },
  'chat.join': { channel_id: 'lobby' },
  'chat.leave': { channel_id: 'match:m-1' },
  'chat.send': { channel_id: 'dm:7f1c2a9e-0000-4000-8000-000000000001', content: 'hello' },
  'presence.update': { status: 'online', metadata: { game: 'arena' } },
};
let n = 0;
for (const [type, payload] of Object.entries(messages)) {
  add('envelope', J({ cid: `c${++n}`, type, payload }));
  add('envelope', J({ type, payload }));
  // every field with a wrong type, null, a huge string
  for (const k of Object.keys(payload)) {
    add('envelope', J({ cid: 'w', type, payload: { ...payload, [k]: 12 } }));
    add('envelope', J({ cid: 'n', type, payload: { ...payload, [k]: null } }));
    add('envelope', J({ cid: 'h', type, payload: { ...payload, [k]: 'é'.repeat(70) } }));
  }
  add('envelope', J({ cid: 'x', type, payload: { ...payload, extra: [1, 2, { a: true }] } }));
}
add('envelope', J({ cid: 'v2', type: 'vote.cast', payload: { vote_id: 'v1', option_id: ['a', 'b', 'c'] } }));
add('envelope', '{"cid":"x","type":"session.heartbeat","payload":{"a":[[[[[[[[[[1]]]]]]]]]]}}');
add('envelope', '{"cid":"dup","type":"a","type":"b"}');
add('envelope', '{"type":"session.heartbeat","payload":[]}');
add('envelope', '{"type":42}');
add('envelope', '{"cid":"","type":"session.heartbeat"}');
add('envelope', '[1,2,3]');
add('envelope', '{"type":"match.join","payload":{"match_id":"a\\u0000b"}}');
add('envelope', '{"type":"match.join","payload":{"match_id":"\\ud83d\\ude00"}}');
add('envelope', '{"type":"match.input","payload":{"n":1e308,"m":-0,"k":123456789012345678901234567890}}');
add('envelope', Buffer.from([0x7b, 0x22, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]));

// ---- fuzz_lua_convert: JSON values of every kind ---------------------------------------------
for (const v of [
  'null', 'true', 'false', '0', '-0', '1.5', '1e300', '-1e-300', '9007199254740993',
  '9223372036854775807', '-9223372036854775808', '0.1', '13.25', '123456.789',
  '"plain"', '"esc \\" \\\\ \\n \\u0001 \\u2028 \\ud83d\\ude00"', '"nul\\u0000inside"',
  '[]', '{}', '[null]', '[1,null,3]', '{"a":null,"b":1}', '{"1":"a","2":"b"}', '{"1":"a"}',
  '[[],{},[[]],{"x":[]}]', '{"players":{"p1":{"x":1,"y":2,"hp":100}},"tick":5}',
  J({ deep: JSON.parse('['.repeat(31) + ']'.repeat(31)) }), '['.repeat(33) + ']'.repeat(33),
  J(Array.from({ length: 40 }, (_, i) => i * 1.25)),
  J(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, i % 3 ? `v${i}` : null]))),
]) add('lua_convert', v);

// ---- fuzz_rest_body: the account and match routes' bodies -----------------------------------
for (const b of [
  { device_id: 'device-123456' },
  { device_id: 'device-123456', username: 'alice_01' },
  { device_id: 'dev ice', username: 'x' },
  { email: 'alice@example.com', password: 'correct horse', create: true, username: 'alice' },
  { email: 'ALICE@Example.com', password: 'x' },
  { email: 'a@b', password: 'aaaaaaaa', create: true },
  { email: 'no-at-sign', password: 'password', create: 'yes' },
  { refresh_token: 'A'.repeat(43) },
  { refresh_token: 'short' },
  { username: 'new.name', display_name: 'Ålice 🚀', metadata: { level: 3, tags: ['a'] } },
  { display_name: 'x'.repeat(65) },
  { metadata: { big: 'y'.repeat(17000) } },
  { unknown: 1 },
  { mode: 'arena', params: { round_ms: 1000 } },
  { mode: 5, params: [] },
]) add('rest_body', J(b));
add('rest_body', '{"device_id":"abc","device_id":"abcdef"}');
add('rest_body', '{"a":' + '['.repeat(40) + ']'.repeat(40) + '}');
add('rest_body', '{"device_id":"dev\\u0000ice12"}');
add('rest_body', '[1]');

// ---- fuzz_jwt: tokens (ours, alg none, other algs, tampered) and claims ----------------------
const KEY = 'fuzz-jwt-key-0123456789abcdef-0123456789abcdef'; // = fuzz_jwt.c
const b64 = (x) => Buffer.from(typeof x === 'string' ? x : J(x)).toString('base64url');
const sign = (header, claims, key = KEY, alg = 'sha256') => {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${crypto.createHmac(alg, key).update(input).digest('base64url')}`;
};
const claims = { sub: '7f1c2a9e-0000-4000-8000-000000000001', usn: 'alice', iat: 1699999000, exp: 1800000000 };
add('jwt', sign({ alg: 'HS256', typ: 'JWT' }, claims));
add('jwt', sign({ alg: 'HS256' }, claims));
add('jwt', sign({ alg: 'HS256', typ: 'JWT' }, { ...claims, exp: 1600000000 }));
add('jwt', sign({ alg: 'HS512', typ: 'JWT' }, claims, KEY, 'sha512'));
add('jwt', sign({ alg: 'HS256', typ: 'JWT' }, claims, 'another key'));
add('jwt', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`);
add('jwt', `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims)}.${b64('not a real rsa signature')}`);
add('jwt', sign({ alg: 'HS256', typ: 'JWS' }, claims));
add('jwt', sign({ alg: 'HS256' }, { ...claims, sub: 'x'.repeat(80) }));
add('jwt', sign({ alg: 'HS256' }, { sub: 5, exp: 1800000000 }));
add('jwt', 'a.b.c.d');
add('jwt', '..');
add('jwt', J(claims));
add('jwt', J({ sub: 'p', exp: 1800000000.5 }));
add('jwt', J({ sub: 'p\u00e9', exp: 1800000000, extra: [1, 2, { z: null }] }));

// ---- fuzz_vote: specs with ballots (JSON), and byte-driven votes ------------------------------
const opts = (ids) => ids.map((id) => ({ id, label: id.toUpperCase() }));
for (const method of ['plurality', 'approval', 'ranked', 'borda', 'condorcet']) {
  const plural = method === 'plurality';
  for (const tb of ['first_listed', 'status_quo', 'none', 'random']) {
    add('vote', J({
      spec: { options: opts(['a', 'b', 'c', 'd']), method, tie_breaker: tb, status_quo: 'b',
              eligible: ['p1', 'p2', 'p3', 'p4', 'p5'], weights: { p1: 2, p2: 0.5 },
              veto_enabled: tb === 'none', window_ms: 20000, visibility: 'live' },
      ballots: [['p1', plural ? 'a' : ['a', 'b']], ['p2', plural ? 'b' : ['b', 'c', 'a']],
                ['p3', plural ? 'c' : ['c']], ['p9', plural ? 'a' : ['a']], ['p4', plural ? 'zz' : []],
                ['p1', plural ? 'b' : ['b', 'b', 'a']]],
      veto: tb === 'none' ? 'p3' : undefined,
      seed: 42,
    }));
  }
}
add('vote', J({ spec: { options: opts(['x', 'y']), method: 'ranked' }, eligible: ['p1', 'p2'], ballots: [] }));
add('vote', J({ spec: { options: opts(['x', 'x']), method: 'borda' } }));
add('vote', J({ spec: { options: opts(['x', 'y']), method: 'plurality', weights: { p1: 1e-7 }, colour: 1 } }));
for (let i = 0; i < 8; i++) add('vote', crypto.createHash('sha256').update(`vote-bytes-${i}`).digest());

// ---- write -------------------------------------------------------------------------------------
for (const [target, items] of Object.entries(corpora)) {
  const dir = path.join(ROOT, target);
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(dir)) if (f.startsWith('seed-')) fs.unlinkSync(path.join(dir, f));
  items.forEach((buf, i) => fs.writeFileSync(path.join(dir, `seed-${String(i).padStart(3, '0')}`), buf));
  console.log(`${target}: ${items.length} seeds`);
}
