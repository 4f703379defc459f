'use strict';
// `moonbase describe` (issue 13 item 6): the registry dump is checked against reality, so the
// tests, the docs and the SDK that read it cannot drift from the server:
// - every message type it lists answers on the socket (none says "unknown message type"), and an
//   unlisted type does;
// - every route it lists exists (no "no such route" / "method not allowed"), and its auth is the
//   one listed;
// - every declared REST body field is validated by the runtime before the handler (a wrong type
//   is 400 naming the field; a closed body refuses an undeclared member), and so is every
//   declared query parameter;
// - its error codes are docs/PROTOCOL.md's table and sdk/js/index.d.ts's ServerErrorCode, both ways;
// - every socket type and REST route the SDK uses (sdk/js/src) is in the dump.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');
const { describeRegistry, routes: registryRoutes } = require('./registry');

const UUID = '00000000-0000-4000-8000-000000000000';
const concrete = (p) => p.replace(/\{[^}]+\}/g, UUID);
const read = (f) => fs.readFileSync(path.join(h.REPO_ROOT, f), 'utf8');

describe('moonbase describe', () => {
  const doc = describeRegistry();
  let server;
  let player;
  before(async () => {
    server = await h.startServer({ args: ['--auth-rate', '100000'] });
    player = await h.authed(server);
  });
  after(async () => {
    if (player) await player.ws.close();
    if (server) assert.equal(await server.stop(), 0);
  });

  it('prints one JSON document with messages, routes and error codes', () => {
    assert.ok(doc.messages.length >= 13, `messages: ${doc.messages.length}`);
    assert.ok(doc.routes.length >= 40, `routes: ${doc.routes.length}`);
    assert.ok(doc.errors.some((e) => e.code === 'bad_request' && e.http_status === 400));
    for (const m of doc.messages) {
      assert.match(m.type, /^[a-z_]+\.[a-z_.]+$/, JSON.stringify(m));
      for (const f of m.fields) assert.ok(f.name && f.type && typeof f.required === 'boolean', JSON.stringify(f));
    }
    for (const r of doc.routes) assert.ok(['none', 'bearer', 'admin'].includes(r.auth), JSON.stringify(r));
    const bodies = doc.routes.filter((r) => r.body).map((r) => `${r.method} ${r.path}`);
    for (const want of ['POST /v1/auth/device', 'POST /v1/auth/email', 'PATCH /v1/account', 'POST /v1/matches', 'POST /v1/friends'])
      assert.ok(bodies.includes(want), `${want} declares its body: ${bodies.join(', ')}`);
  });

  it('every listed message type answers on the socket; an unlisted one is unsupported', async () => {
    for (const m of doc.messages) {
      const ws = m.before_auth ? await server.ws() : player.ws;
      const r = await ws.request(m.type, {}, { timeoutMs: 10000 });
      assert.notEqual(r.payload && r.payload.message, 'unknown message type', `${m.type} is listed but not served`);
      if (m.before_auth) await ws.close();
    }
    const r = await player.ws.request('describe.not_a_type', {});
    assert.equal(r.payload.code, 'unsupported');
    assert.equal(r.payload.message, 'unknown message type');
  });

  it('every listed route exists with the listed auth', async () => {
    for (const r of registryRoutes()) {
      if (r.path === '/metrics' || r.path === '/healthz') continue; // no auth, no body: served below
      // no credentials at all: bearer/admin routes are 401 (or 403 without an admin token), never 404/405
      const res = await server.http(r.method, concrete(r.path), r.method === 'GET' || r.method === 'DELETE' ? undefined : {});
      const what = `${r.method} ${r.path}: ${res.status} ${res.text.slice(0, 200)}`;
      assert.ok(!/no such route|not allowed here/.test(res.text), what);
      if (r.auth === 'none') assert.notEqual(res.status, 401, what);
      else assert.equal(res.status, 401, what);
    }
    assert.equal((await server.http('GET', '/healthz')).status, 200);
    assert.equal((await server.http('GET', '/metrics')).status, 200);
  });

  it('declared body fields are validated by the runtime: wrong types are 400 naming the field; closed bodies refuse extras', async () => {
    const wrong = { STRING: 12345, INTEGER: 'x', NUMBER: 'x', BOOL: 'x', OBJECT: 'x', ARRAY: 'x', STRING_OR_ARRAY: 7 };
    const headers = { none: undefined, bearer: { authorization: `Bearer ${player.token}` }, admin: { authorization: `Bearer ${server.adminToken}` } };
    // a valid value for each required field, so that the field under test is the one refused
    const sample = (f) => (f.format === 'uuid' ? UUID : f.format === 'email' ? 'someone@example.com' : f.type === 'STRING' ? 'valid_1' : f.type === 'INTEGER' ? 1 : undefined);
    let n = 0;
    for (const r of registryRoutes().filter((x) => x.body)) {
      const base = Object.fromEntries(r.body.fields.filter((f) => f.required).map((f) => [f.name, sample(f)]));
      for (const f of r.body.fields) {
        if (!wrong[f.type]) continue;
        const res = await server.http(r.method, concrete(r.path), { ...base, [f.name]: wrong[f.type] }, headers[r.auth]);
        const what = `${r.method} ${r.path} ${f.name}: ${res.status} ${res.text.slice(0, 200)}`;
        assert.equal(res.status, 400, what);
        assert.equal(res.json.error.code, 'bad_request', what);
        assert.ok(res.json.error.message.includes(`'${f.name}'`), what);
        n++;
      }
      if (r.body.closed) {
        const res = await server.http(r.method, concrete(r.path), { zz_undeclared: 1 }, headers[r.auth]);
        assert.equal(res.status, 400, `${r.method} ${r.path}: ${res.text}`);
        assert.match(res.json.error.message, new RegExp(`^unknown field 'zz_undeclared' \\(${r.body.fields.map((f) => f.name).join(', ')}\\)$`));
        n++;
      }
      const required = r.body.fields.find((f) => f.required);
      if (required) {
        const res = await server.http(r.method, concrete(r.path), {}, headers[r.auth]);
        assert.equal(res.status, 400, `${r.method} ${r.path}: ${res.text}`);
        assert.match(res.json.error.message, /^missing field '/);
        n++;
      }
    }
    assert.ok(n >= 20, `checks: ${n}`);
  });

  it('declared query parameters are validated by the runtime: a bad value is 400 naming the parameter', async () => {
    const headers = { none: undefined, bearer: { authorization: `Bearer ${player.token}` }, admin: { authorization: `Bearer ${server.adminToken}` } };
    // fails every declared query check (too long for the length rules, a tab for the formats)
    const bad = encodeURIComponent(`${'x'.repeat(300)}\t`);
    let n = 0;
    for (const r of registryRoutes().filter((x) => x.query)) {
      for (const f of r.query) {
        const res = await server.http(r.method, `${concrete(r.path)}?${f.name}=${bad}`, undefined, headers[r.auth]);
        const what = `${r.method} ${r.path}?${f.name}: ${res.status} ${res.text.slice(0, 200)}`;
        assert.equal(res.status, 400, what);
        assert.equal(res.json.error.code, 'bad_request', what);
        assert.ok(res.json.error.message.includes(f.name), what);
        n++;
      }
    }
    assert.ok(n >= 10, `checks: ${n}`);
  });

  it("error codes are docs/PROTOCOL.md's table and the SDK's ServerErrorCode, both ways", () => {
    const codes = doc.errors.map((e) => e.code).sort();
    const proto = read('docs/PROTOCOL.md');
    const table = [...proto.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => ({ code: m[1], status: Number(m[2]) }));
    assert.deepEqual(table.map((t) => t.code).sort(), codes, 'PROTOCOL.md error table');
    for (const t of table) assert.equal(doc.errors.find((e) => e.code === t.code).http_status, t.status, `${t.code} status`);
    const dts = read('sdk/js/index.d.ts');
    const union = /export type ServerErrorCode =([^;]+);/.exec(dts);
    assert.ok(union, 'ServerErrorCode in index.d.ts');
    assert.deepEqual([...union[1].matchAll(/'([a-z_]+)'/g)].map((m) => m[1]).sort(), codes, 'index.d.ts ServerErrorCode');
    const consts = /export declare const ErrorCode: Readonly<\{([^}]+)\}>/.exec(dts)[1];
    for (const c of codes) assert.ok(consts.includes(`: '${c}';`), `ErrorCode lists ${c}`);
  });

  it('every socket type and REST route the SDK uses is in the dump', () => {
    const src = read('sdk/js/src/moonbase-client.js');
    const types = new Set(doc.messages.map((m) => m.type));
    const used = new Set([...src.matchAll(/(?:request|_request|send)\('([a-z_]+\.[a-z_.]+)'/g)].map((m) => m[1]));
    assert.ok(used.size >= 8, [...used].join(', '));
    for (const t of used) assert.ok(types.has(t), `the SDK sends ${t}, which the server does not list`);
    const routes = doc.routes.map((r) => ({ method: r.method, re: new RegExp(`^${r.path.replace(/\{[^}]+\}/g, '[^/]+')}$`) }));
    const calls = [...src.matchAll(/request\('(GET|POST|PATCH|PUT|DELETE)', [`']([^`']+)[`']/g)].map((m) => ({ method: m[1], path: m[2].replace(/\$\{[^}]+\}/g, 'x') }));
    assert.ok(calls.length >= 15, JSON.stringify(calls));
    for (const c of calls) assert.ok(routes.some((r) => r.method === c.method && r.re.test(c.path)), `the SDK calls ${c.method} ${c.path}, which the server does not list`);
    // the d.ts names every server push it types; each comes from a listed module family
    const dts = read('sdk/js/index.d.ts');
    for (const t of used) assert.ok(dts.includes(t) || src.includes(`'${t}'`), t);
  });
});
