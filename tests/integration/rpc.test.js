'use strict';
// Script RPC (docs/REST.md "RPC"): POST /v1/rpc/{name} calls fn(ctx, payload) registered with
// moonbase.rpc in scripts/server.lua and answers its result as JSON.
// The test server.lua is tests/integration/scripts/server.lua; the shipped scripts/server.lua
// (echo, roll) is checked against the examples in docs/REST.md.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const bearer = (s) => ({ authorization: `Bearer ${s.token}` });

describe('rpc (test server.lua)', () => {
  let server;
  let dir;
  let p;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moonbase-scripts-'));
    fs.cpSync(path.join(h.REPO_ROOT, 'scripts'), dir, { recursive: true });
    fs.copyFileSync(path.join(__dirname, 'scripts', 'server.lua'), path.join(dir, 'server.lua'));
    server = await h.startServer({ scripts: dir, args: ['--lua-time-ms', '300'] });
    p = await h.authed(server, { username: `rpc_${Date.now() % 1e8}` });
  });
  after(async () => {
    if (p) await p.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const call = (name, body, headers) => server.http('POST', `/v1/rpc/${name}`, body, headers === undefined ? bearer(p) : headers);

  it('echo returns the payload with ctx.player_id and ctx.username', async () => {
    const payload = { a: 1, nested: { b: [1, 'two', null, true] }, s: 'zoë' };
    const res = await call('echo', payload);
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-type'], /^application\/json/);
    assert.deepEqual(res.json, { echo: payload, player_id: p.player_id, username: p.username });
    // an empty object
    const empty = await call('echo', {});
    assert.equal(empty.status, 200, empty.text);
    assert.deepEqual(empty.json.echo, {});
    // no body at all: the payload is {}
    const none = await call('echo', undefined);
    assert.equal(none.status, 200, none.text);
    assert.deepEqual(none.json.echo, {});
  });

  it('return nil, "message" -> 400 bad_request with that message', async () => {
    const res = await call('refuse', { why: 'not today' });
    assert.equal(res.status, 400);
    assert.deepEqual(res.json, { error: { code: 'bad_request', message: 'refused: not today' } });
  });

  it('error() -> 500 internal (the details only in the server log)', async () => {
    const res = await call('explode', {});
    assert.equal(res.status, 500);
    assert.deepEqual(res.json, { error: { code: 'internal', message: "rpc 'explode' failed" } });
    await server.waitForLog(/event=rpc_failed rpc=explode player=\S+ status=runtime error=.*server\.lua:\d+: exploded on purpose/, 2000);
  });

  it('a result that is not JSON -> 500; no result -> 200 {}; an array is fine', async () => {
    const bad = await call('not_json', {});
    assert.equal(bad.status, 500);
    assert.match(bad.json.error.message, /^rpc 'not_json' returned a value that is not JSON: /);
    const nothing = await call('nothing', {});
    assert.equal(nothing.status, 200);
    assert.equal(nothing.text, '{}');
    assert.deepEqual((await call('list', {})).json, [1, 2, 3]);
  });

  it('a runaway RPC is stopped by the time budget (500) and the server keeps serving', async () => {
    const t0 = Date.now();
    const res = await call('spin', {});
    assert.equal(res.status, 500);
    // the server.lua VM runs with --lua-time-ms (300 here), not the 1000 ms default
    assert.ok(Date.now() - t0 < 900, `answered after ${Date.now() - t0} ms`);
    await server.waitForLog(/event=rpc_failed rpc=spin .*status=timeout/, 2000);
    assert.equal((await call('echo', { after: 'spin' })).status, 200);
    assert.equal((await p.ws.request('session.heartbeat', {})).type, 'session.heartbeat');
  });

  it('the server script keeps its state between calls', async () => {
    const a = (await call('count', {})).json.calls;
    const b = (await call('count', {})).json.calls;
    assert.equal(b, a + 1);
  });

  it('unknown rpc -> 404; no or bad bearer -> 401; bad bodies -> 400', async () => {
    const unknown = await call('nope', {});
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.json, { error: { code: 'not_found', message: "no rpc 'nope'" } });
    const anon = await call('echo', {}, {});
    assert.equal(anon.status, 401);
    assert.equal(anon.json.error.code, 'unauthorized');
    assert.equal((await call('echo', {}, { authorization: 'Bearer x.y.z' })).status, 401);
    const badJson = await call('echo', '{"a": ');
    assert.equal(badJson.status, 400);
    assert.match(badJson.json.error.message, /invalid JSON body/);
    const arr = await call('echo', '[1]');
    assert.equal(arr.status, 400);
    assert.match(arr.json.error.message, /JSON body must be an object/);
    assert.equal((await server.http('GET', '/v1/rpc/echo', undefined, bearer(p))).status, 404);
  });

  it('calls and failures are counted in /metrics', async () => {
    const t = (await server.http('GET', '/metrics')).text;
    assert.match(t, /^moonbase_rpc_calls_total ([1-9]\d*)$/m);
    assert.match(t, /^moonbase_rpc_errors_total ([1-9]\d*)$/m);
  });
});

describe('rpc (the shipped scripts/server.lua)', () => {
  let server;
  let p;
  before(async () => {
    server = await h.startServer();
    p = await h.authed(server);
  });
  after(async () => {
    if (p) await p.ws.close();
    if (server) assert.equal(await server.stop(), 0);
  });

  it('echo: {"echo": payload, "player_id", "at"}', async () => {
    const res = await server.http('POST', '/v1/rpc/echo', { hello: 'world' }, bearer(p));
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json).sort(), ['at', 'echo', 'player_id']);
    assert.deepEqual(res.json.echo, { hello: 'world' });
    assert.equal(res.json.player_id, p.player_id);
    assert.ok(Math.abs(res.json.at - Date.now()) < 60000);
  });

  it('roll: {"value": 1..sides}; sides out of range -> 400', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await server.http('POST', '/v1/rpc/roll', { sides: 6 }, bearer(p));
      assert.equal(res.status, 200);
      assert.ok(Number.isInteger(res.json.value) && res.json.value >= 1 && res.json.value <= 6, res.text);
    }
    const bad = await server.http('POST', '/v1/rpc/roll', { sides: 1 }, bearer(p));
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.json, { error: { code: 'bad_request', message: 'sides must be 2..1000' } });
  });
});
