'use strict';
// REST authentication and accounts (docs/REST.md): device and email auth, refresh rotation,
// logout, GET/PATCH /v1/account, bearer checks (missing, forged, expired, wrong algorithm),
// the per-IP auth rate limit, the error JSON shape, /healthz and /metrics.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');

// A known HS256 key, so the tests can sign tokens (expired ones, other algorithms).
const JWT_SECRET = 'auth-test-secret-0123456789abcdef-0123456789';

const b64url = (buf) => Buffer.from(buf).toString('base64url'); // forged tokens below
const signJwt = (claims, { secret = JWT_SECRET } = {}) => h.signJwt(claims, secret);
const uniq = () => crypto.randomBytes(5).toString('hex');

/** Asserts a REST error: status, {"error":{"code","message"}} and nothing else at the top. */
function assertError(res, status, code, messageRe) {
  assert.equal(res.status, status, `status (body ${res.text})`);
  assert.ok(res.json && typeof res.json === 'object', `JSON body: ${res.text}`);
  assert.deepEqual(Object.keys(res.json), ['error'], res.text);
  assert.deepEqual(Object.keys(res.json.error).sort(), ['code', 'message'], res.text);
  assert.equal(res.json.error.code, code, res.text);
  assert.equal(typeof res.json.error.message, 'string');
  assert.ok(res.json.error.message.length > 0);
  if (messageRe) assert.match(res.json.error.message, messageRe);
  assert.match(res.headers['content-type'], /^application\/json/);
}

function assertSession(body) {
  for (const k of ['token', 'refresh_token', 'player_id', 'username']) {
    assert.equal(typeof body[k], 'string', `${k} in ${JSON.stringify(body)}`);
    assert.ok(body[k].length > 0, k);
  }
  assert.equal(body.token.split('.').length, 3, 'token is a JWT');
  assert.equal(typeof body.expires_in, 'number');
  assert.equal(typeof body.created, 'boolean');
  assert.match(body.player_id, /^[0-9a-f-]{36}$/);
}

describe('auth and accounts', () => {
  let server;
  const bearer = (token) => ({ authorization: `Bearer ${token}` });
  before(async () => {
    // A high auth rate: this file sends many auth requests from 127.0.0.1.
    server = await h.startServer({ args: ['--auth-rate', '100000', '--jwt-secret', JWT_SECRET, '--token-ttl', '900'] });
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  describe('POST /v1/auth/device', () => {
    it('creates the account on first use (201, created true), finds it after (200, created false)', async () => {
      const device_id = `device-${uniq()}`;
      const first = await server.http('POST', '/v1/auth/device', { device_id });
      assert.equal(first.status, 201, first.text);
      assertSession(first.json);
      assert.equal(first.json.created, true);
      assert.equal(first.json.expires_in, 900);
      assert.match(first.json.username, /^player_[0-9a-f]{10}$/, 'generated username');
      const again = await server.http('POST', '/v1/auth/device', { device_id });
      assert.equal(again.status, 200, again.text);
      assertSession(again.json);
      assert.equal(again.json.created, false);
      assert.equal(again.json.player_id, first.json.player_id);
      assert.equal(again.json.username, first.json.username);
      assert.notEqual(again.json.refresh_token, first.json.refresh_token, 'a fresh refresh token per login');
    });

    it('takes a username on creation; a taken username is 409 conflict', async () => {
      const username = `dev_${uniq()}`;
      const res = await server.http('POST', '/v1/auth/device', { device_id: `device-${uniq()}`, username });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.json.username, username);
      const clash = await server.http('POST', '/v1/auth/device', { device_id: `device-${uniq()}`, username });
      assertError(clash, 409, 'conflict', /username already taken/);
    });

    it('username rules: 3..32 characters of letters, digits, _ . -', async () => {
      const dev = () => `device-${uniq()}`;
      assertError(await server.http('POST', '/v1/auth/device', { device_id: dev(), username: 'ab' }), 400, 'bad_request', /3\.\.32 characters/);
      assertError(await server.http('POST', '/v1/auth/device', { device_id: dev(), username: 'x'.repeat(33) }), 400, 'bad_request', /3\.\.32 characters/);
      assertError(await server.http('POST', '/v1/auth/device', { device_id: dev(), username: 'bad name' }), 400, 'bad_request', /only letters, digits/);
      assertError(await server.http('POST', '/v1/auth/device', { device_id: dev(), username: 'émile' }), 400, 'bad_request', /only letters, digits/);
      assertError(await server.http('POST', '/v1/auth/device', { device_id: dev(), username: 42 }), 400, 'bad_request', /'username' must be a string/);
      const ok = await server.http('POST', '/v1/auth/device', { device_id: dev(), username: `A.b-c_${uniq()}` });
      assert.equal(ok.status, 201, ok.text);
    });

    it('device_id rules: required string, 6..128 printable characters without spaces', async () => {
      assertError(await server.http('POST', '/v1/auth/device', {}), 400, 'bad_request', /missing field 'device_id'/);
      assertError(await server.http('POST', '/v1/auth/device', { device_id: 123456 }), 400, 'bad_request', /'device_id' must be a string/);
      assertError(await server.http('POST', '/v1/auth/device', { device_id: 'short' }), 400, 'bad_request', /6\.\.128 characters/);
      assertError(await server.http('POST', '/v1/auth/device', { device_id: 'd'.repeat(129) }), 400, 'bad_request', /6\.\.128 characters/);
      assertError(await server.http('POST', '/v1/auth/device', { device_id: 'has a space' }), 400, 'bad_request', /printable without spaces/);
      const ok = await server.http('POST', '/v1/auth/device', { device_id: 'd'.repeat(128) });
      assert.equal(ok.status, 201, ok.text);
    });
  });

  describe('POST /v1/auth/email', () => {
    const password = 'correct horse battery';
    let email;
    let created;
    before(async () => {
      email = `Alice.${uniq()}@Example.com`;
      created = await server.http('POST', '/v1/auth/email', { email, password, create: true });
    });

    it('create: true makes the account (201)', () => {
      assert.equal(created.status, 201, created.text);
      assertSession(created.json);
      assert.equal(created.json.created, true);
    });

    it('login (create absent or false) answers 200 with the same player; the email is case-insensitive', async () => {
      const res = await server.http('POST', '/v1/auth/email', { email, password });
      assert.equal(res.status, 200, res.text);
      assertSession(res.json);
      assert.equal(res.json.created, false);
      assert.equal(res.json.player_id, created.json.player_id);
      const lower = await server.http('POST', '/v1/auth/email', { email: email.toLowerCase(), password, create: false });
      assert.equal(lower.status, 200, lower.text);
      assert.equal(lower.json.player_id, created.json.player_id);
    });

    it('create: true for an existing email with the right password logs in (200, created false)', async () => {
      const res = await server.http('POST', '/v1/auth/email', { email, password, create: true });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.created, false);
      assert.equal(res.json.player_id, created.json.player_id);
    });

    it('wrong password, unknown email, and create of an existing email with a wrong password: 401', async () => {
      assertError(await server.http('POST', '/v1/auth/email', { email, password: 'not the password' }), 401, 'unauthorized', /invalid email or password/);
      assertError(
        await server.http('POST', '/v1/auth/email', { email: `nobody.${uniq()}@example.com`, password }),
        401, 'unauthorized', /invalid email or password/
      );
      assertError(await server.http('POST', '/v1/auth/email', { email, password: 'another good passphrase', create: true }), 401, 'unauthorized', /invalid email or password/);
    });

    it('weak or malformed input: 400 with a reason', async () => {
      const e = () => `bob.${uniq()}@example.com`;
      const cases = [
        [{ email: e(), password: 'short1', create: true }, /at least 8 characters/],
        [{ email: e(), password: 'password', create: true }, /too common/],
        [{ email: e(), password: 'aaaaaaaaaa', create: true }, /too weak/],
        [{ email: e(), password: 'p'.repeat(129), create: true }, /at most 128/],
        [{ email: 'no-at-sign.example.com', password, create: true }, /exactly one '@'/],
        [{ email: 'a@b@example.com', password, create: true }, /exactly one '@'/],
        [{ email: 'bob@localhost', password, create: true }, /domain is not valid/],
        [{ email: 'bob smith@example.com', password, create: true }, /spaces/],
        [{ email: e(), password: '', create: false }, /1\.\.128 characters/],
        [{ email: e(), password, create: 'yes' }, /'create' must be a boolean/],
        [{ email: e(), password, username: 'x', create: true }, /3\.\.32 characters/],
        [{ password, create: true }, /missing field 'email'/],
        [{ email: e(), create: true }, /missing field 'password'/],
        [{ email: e(), password: 12345678, create: true }, /'password' must be a string/],
      ];
      for (const [body, re] of cases) {
        assertError(await server.http('POST', '/v1/auth/email', body), 400, 'bad_request', re);
      }
    });

    it('five failed logins for one email within a minute: the next attempt is 429', async () => {
      const victim = `carol.${uniq()}@example.com`;
      const made = await server.http('POST', '/v1/auth/email', { email: victim, password, create: true });
      assert.equal(made.status, 201, made.text);
      for (let i = 0; i < 5; i++) {
        assertError(await server.http('POST', '/v1/auth/email', { email: victim, password: `wrong-${i}-password` }), 401, 'unauthorized');
      }
      assertError(await server.http('POST', '/v1/auth/email', { email: victim, password }), 429, 'rate_limited', /too many failed logins/);
    });
  });

  describe('refresh and logout', () => {
    it('refresh rotates: new tokens; the old refresh token is then refused (401)', async () => {
      const s = await server.http('POST', '/v1/auth/device', { device_id: `device-${uniq()}` });
      const r1 = await server.http('POST', '/v1/auth/refresh', { refresh_token: s.json.refresh_token });
      assert.equal(r1.status, 200, r1.text);
      assertSession(r1.json);
      assert.equal(r1.json.player_id, s.json.player_id);
      assert.equal(r1.json.username, s.json.username);
      assert.equal(r1.json.created, false);
      assert.notEqual(r1.json.refresh_token, s.json.refresh_token);
      // the new session token works
      const acct = await server.http('GET', '/v1/account', undefined, bearer(r1.json.token));
      assert.equal(acct.status, 200, acct.text);
      assertError(await server.http('POST', '/v1/auth/refresh', { refresh_token: s.json.refresh_token }), 401, 'unauthorized', /invalid, expired or revoked/);
      // the rotated one works once
      const r2 = await server.http('POST', '/v1/auth/refresh', { refresh_token: r1.json.refresh_token });
      assert.equal(r2.status, 200, r2.text);
    });

    it('refresh errors: missing 400, garbage 401', async () => {
      assertError(await server.http('POST', '/v1/auth/refresh', {}), 400, 'bad_request', /missing field 'refresh_token'/);
      assertError(await server.http('POST', '/v1/auth/refresh', { refresh_token: 'short' }), 401, 'unauthorized');
      assertError(await server.http('POST', '/v1/auth/refresh', { refresh_token: 'A'.repeat(43) }), 401, 'unauthorized');
    });

    it('logout revokes the refresh token ({revoked: true}); a second logout says revoked false', async () => {
      const s = await server.http('POST', '/v1/auth/device', { device_id: `device-${uniq()}` });
      const out = await server.http('POST', '/v1/auth/logout', { refresh_token: s.json.refresh_token });
      assert.equal(out.status, 200, out.text);
      assert.deepEqual(out.json, { revoked: true });
      assertError(await server.http('POST', '/v1/auth/refresh', { refresh_token: s.json.refresh_token }), 401, 'unauthorized');
      const again = await server.http('POST', '/v1/auth/logout', { refresh_token: s.json.refresh_token });
      assert.deepEqual(again.json, { revoked: false });
      assertError(await server.http('POST', '/v1/auth/logout', {}), 400, 'bad_request', /missing field 'refresh_token'/);
    });
  });

  describe('GET and PATCH /v1/account', () => {
    let me;
    before(async () => {
      me = (await server.http('POST', '/v1/auth/device', { device_id: `device-${uniq()}`, username: `acct_${uniq()}` })).json;
    });

    it('GET returns the account', async () => {
      const res = await server.http('GET', '/v1/account', undefined, bearer(me.token));
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(Object.keys(res.json).sort(), ['created_at', 'display_name', 'email', 'metadata', 'player_id', 'updated_at', 'username']);
      assert.equal(res.json.player_id, me.player_id);
      assert.equal(res.json.username, me.username);
      assert.equal(res.json.display_name, null);
      assert.equal(res.json.email, null);
      assert.deepEqual(res.json.metadata, {});
      assert.match(res.json.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    });

    it('PATCH updates username, display_name and metadata (an object), and returns the account', async () => {
      const username = `renamed_${uniq()}`;
      const res = await server.http('PATCH', '/v1/account', { username, display_name: 'Zoë ✨', metadata: { level: 3, tags: ['a'] } }, bearer(me.token));
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.username, username);
      assert.equal(res.json.display_name, 'Zoë ✨');
      assert.deepEqual(res.json.metadata, { level: 3, tags: ['a'] });
      const get = await server.http('GET', '/v1/account', undefined, bearer(me.token));
      assert.deepEqual(get.json, res.json);
      // omitted fields stay
      const partial = await server.http('PATCH', '/v1/account', { display_name: 'Z' }, bearer(me.token));
      assert.equal(partial.json.username, username);
      assert.deepEqual(partial.json.metadata, { level: 3, tags: ['a'] });
      me.username = username;
    });

    it('PATCH: a taken username is 409; bad fields are 400', async () => {
      const other = (await server.http('POST', '/v1/auth/device', { device_id: `device-${uniq()}`, username: `taken_${uniq()}` })).json;
      assertError(await server.http('PATCH', '/v1/account', { username: other.username }, bearer(me.token)), 409, 'conflict', /username already taken/);
      const bad = [
        [{ username: 'no' }, /3\.\.32/],
        [{ username: 7 }, /'username' must be a string/],
        [{ display_name: 'x'.repeat(65) }, /at most 64/],
        [{ metadata: [1, 2] }, /metadata must be an object/],
        [{ metadata: 'text' }, /metadata must be an object/],
        [{ metadata: { blob: 'x'.repeat(17000) } }, /16 KiB/],
        [{ email: 'x@example.com' }, /unknown field 'email'/],
      ];
      for (const [body, re] of bad) assertError(await server.http('PATCH', '/v1/account', body, bearer(me.token)), 400, 'bad_request', re);
      // no body at all (Content-Length: 0): a clear 400
      assertError(await server.http('PATCH', '/v1/account', undefined, bearer(me.token)), 400, 'bad_request', /JSON body required/);
      const empty = await server.http('PATCH', '/v1/account', {}, bearer(me.token));
      assert.equal(empty.status, 200, `an empty object changes nothing: ${empty.text}`);
      // nothing changed
      const get = await server.http('GET', '/v1/account', undefined, bearer(me.token));
      assert.equal(get.json.username, me.username);
    });

    it('missing, malformed, forged, expired and wrong-algorithm bearer tokens: 401', async () => {
      assertError(await server.http('GET', '/v1/account'), 401, 'unauthorized', /missing Authorization: Bearer token/);
      assertError(await server.http('GET', '/v1/account', undefined, { authorization: `Basic ${me.token}` }), 401, 'unauthorized', /missing Authorization/);
      assertError(await server.http('GET', '/v1/account', undefined, bearer('not-a-jwt')), 401, 'unauthorized', /malformed token/);
      // forged: the payload edited (another player id), the signature kept
      const [head, body, sig] = me.token.split('.');
      const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
      claims.sub = '00000000-0000-4000-8000-000000000000';
      const forged = `${head}.${b64url(JSON.stringify(claims))}.${sig}`;
      assertError(await server.http('GET', '/v1/account', undefined, bearer(forged)), 401, 'unauthorized', /invalid token signature/);
      // signed with another key
      const now = Math.floor(Date.now() / 1000);
      const otherKey = signJwt({ sub: me.player_id, usn: me.username, iat: now, exp: now + 600 }, { secret: 'x'.repeat(40) });
      assertError(await server.http('GET', '/v1/account', undefined, bearer(otherKey)), 401, 'unauthorized', /invalid token signature/);
      // expired, correctly signed
      const expired = signJwt({ sub: me.player_id, usn: me.username, iat: now - 1000, exp: now - 10 });
      assertError(await server.http('GET', '/v1/account', undefined, bearer(expired)), 401, 'unauthorized', /token expired/);
      // alg none
      const none = `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify({ sub: me.player_id, exp: now + 600 }))}.`;
      assertError(await server.http('GET', '/v1/account', undefined, bearer(none)), 401, 'unauthorized', /unsupported token algorithm/);
      // control: a token the test signs with the server's key is accepted
      const good = signJwt({ sub: me.player_id, usn: me.username, iat: now, exp: now + 600 });
      assert.equal((await server.http('GET', '/v1/account', undefined, bearer(good))).status, 200);
    });
  });

  describe('errors, health and metrics', () => {
    it('unknown route 404, wrong method 404 unsupported, bad JSON body 400, non-object body 400', async () => {
      assertError(await server.http('GET', '/v1/nope'), 404, 'not_found', /no such route: GET \/v1\/nope/);
      assertError(await server.http('DELETE', '/v1/auth/device'), 404, 'unsupported', /method DELETE not allowed/);
      assertError(await server.http('POST', '/v1/auth/device', '{"device_id": '), 400, 'bad_request', /invalid JSON body/);
      assertError(await server.http('POST', '/v1/auth/device', '[1, 2]'), 400, 'bad_request', /JSON body must be an object/);
      let deep = '1';
      for (let i = 0; i < 40; i++) deep = `[${deep}]`;
      assertError(await server.http('POST', '/v1/auth/device', `{"device_id": ${deep}}`), 400, 'bad_request', /nested deeper than 32/);
    });

    it('GET /healthz answers 200 {status: ok, database: ok, sessions}', async () => {
      const res = await server.http('GET', '/healthz');
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.status, 'ok');
      assert.equal(res.json.database, 'ok');
      assert.equal(typeof res.json.sessions, 'number');
    });

    it('GET /metrics is Prometheus text with the session, message, error and database series', async () => {
      const s = await h.authed(server);
      await s.ws.ok('session.heartbeat', {});
      await s.ws.request('no.such.type', {});
      await server.http('GET', '/v1/account'); // one unauthorized
      const res = await server.http('GET', '/metrics');
      await s.ws.close();
      assert.equal(res.status, 200);
      assert.match(res.headers['content-type'], /^text\/plain/);
      const t = res.text;
      assert.match(t, /^# TYPE moonbase_sessions gauge$/m);
      assert.match(t, /^moonbase_sessions [1-9]\d*$/m, 'one session open');
      assert.match(t, /^moonbase_messages_in_total\{type="session\.connect"\} [1-9]/m);
      assert.match(t, /^moonbase_messages_in_total\{type="session\.heartbeat"\} [1-9]/m);
      assert.match(t, /^moonbase_messages_in_total\{type="unknown"\} [1-9]/m);
      assert.match(t, /^moonbase_messages_out_total\{type="session\.connected"\} [1-9]/m);
      assert.match(t, /^moonbase_errors_total\{code="unsupported"\} [1-9]/m);
      assert.match(t, /^moonbase_errors_total\{code="unauthorized"\} [1-9]/m);
      assert.match(t, /^moonbase_errors_total\{code="rate_limited"\} \d/m);
      assert.match(t, /^moonbase_db_pool_connected [1-9]/m);
      assert.match(t, /^moonbase_db_pool_size \d+$/m);
      assert.match(t, /^# TYPE moonbase_db_query_seconds histogram$/m);
      assert.match(t, /^moonbase_db_query_seconds_bucket\{le="\+Inf"\} [1-9]/m);
      assert.match(t, /^moonbase_db_query_seconds_count [1-9]/m);
      assert.match(t, /^moonbase_http_requests_total\{class="4xx"\} [1-9]/m);
    });
  });
});

describe('per-IP auth rate limit', () => {
  let server;
  before(async () => {
    server = await h.startServer({ args: ['--auth-rate', '5'] });
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  it('--auth-rate 5: the sixth auth request within a minute is 429; other routes are not limited', async () => {
    const statuses = [];
    for (let i = 0; i < 5; i++) {
      // a mix of auth routes: each counts
      const res = i % 2
        ? await server.http('POST', '/v1/auth/refresh', { refresh_token: 'x'.repeat(20) })
        : await server.http('POST', '/v1/auth/device', { device_id: `device-${uniq()}` });
      statuses.push(res.status);
    }
    assert.deepEqual(statuses, [201, 401, 201, 401, 201]);
    const limited = await server.http('POST', '/v1/auth/device', { device_id: `device-${uniq()}` });
    assert.equal(limited.status, 429);
    assert.deepEqual(limited.json, { error: { code: 'rate_limited', message: 'too many authentication attempts; retry later' } });
    assert.equal((await server.http('POST', '/v1/auth/email', { email: 'x@example.com', password: 'whatever1' })).status, 429);
    assert.equal((await server.http('GET', '/healthz')).status, 200);
    assert.equal((await server.http('GET', '/v1/account')).status, 401, 'a bearer route is not auth-rate-limited');
  });
});
