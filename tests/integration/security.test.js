'use strict';
// Security (issue 9, "Security"): forged tokens of every kind are refused over REST Bearer and
// session.connect; refresh tokens are single use and revocable; production mode refuses the
// development key and weak admin tokens; admin routes need the admin token; secrets never reach
// the log; logins are rate-limited per account and per IP.
//
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const h = require('./harness');

// ---- token crafting (node's crypto; nothing from the server but its key) ----------------------
const b64u = (x) => Buffer.from(typeof x === 'string' || Buffer.isBuffer(x) ? x : JSON.stringify(x)).toString('base64url');
function hmacToken(claims, key, { alg = 'sha256', header = { alg: 'HS256', typ: 'JWT' } } = {}) {
  const input = `${b64u(header)}.${b64u(claims)}`;
  return `${input}.${crypto.createHmac(alg, key).update(input).digest('base64url')}`;
}
const nowS = () => Math.floor(Date.now() / 1000);
const bearer = (t) => ({ authorization: `Bearer ${t}` });
const uniq = () => crypto.randomBytes(5).toString('hex');

function assertRestError(res, status, code) {
  assert.equal(res.status, status, `status (body ${res.text})`);
  assert.equal(res.json && res.json.error && res.json.error.code, code, res.text);
}

/** session.connect with `token` on a fresh socket: the error reply (or the success). */
async function wsConnect(server, token) {
  const ws = await server.ws();
  try {
    return await ws.request('session.connect', { token }, { timeoutMs: 5000 });
  } finally {
    await ws.close();
  }
}

/** Runs the server binary to completion (for start-up refusals). Resolves {code, output}. */
function runServer(args, { env = {}, timeoutMs = 20000 } = {}) {
  const bin = path.resolve(h.REPO_ROOT, process.env.MOONBASE_BIN || path.join('build', 'moonbase'));
  const clean = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MOONBASE_')) clean[k] = v;
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, args, { cwd: h.REPO_ROOT, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout.on('data', (d) => (output += d));
    proc.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not exit within ${timeoutMs} ms (it should refuse to start)\n${output}`));
    }, timeoutMs);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

describe('tokens: forged, expired, tampered and wrong-algorithm tokens are refused (REST and socket)', () => {
  let server;
  let devKey;
  let me; // a real player: {token, player_id, refresh_token, ...}
  let other;
  const forged = {}; // name -> token

  before(async () => {
    server = await h.startServer({ args: ['--auth-rate', '100000'] }); // development key
    devKey = fs.readFileSync(path.join(server.dataDir, 'dev-jwt-key'), 'utf8').trim();
    assert.ok(devKey.length >= 32, 'the development key is in the data dir');
    me = await h.authed(server);
    other = await h.authed(server);
    await me.ws.close();
    await other.ws.close();

    const claims = { sub: me.player_id, usn: me.username, iat: nowS(), exp: nowS() + 600 };
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsInput = `${b64u({ alg: 'RS256', typ: 'JWT' })}.${b64u(claims)}`;
    const [head, , sig] = me.token.split('.');

    forged['alg none, empty signature'] = `${b64u({ alg: 'none', typ: 'JWT' })}.${b64u(claims)}.`;
    forged['alg none, no signature segment'] = `${b64u({ alg: 'none' })}.${b64u(claims)}`;
    forged['alg None (case)'] = hmacToken(claims, devKey, { header: { alg: 'None', typ: 'JWT' } });
    forged['alg hs256 (case)'] = hmacToken(claims, devKey, { header: { alg: 'hs256', typ: 'JWT' } });
    forged['no alg'] = hmacToken(claims, devKey, { header: { typ: 'JWT' } });
    forged['HS512 with the right key'] = hmacToken(claims, devKey, { alg: 'sha512', header: { alg: 'HS512', typ: 'JWT' } });
    forged['HS384 with the right key'] = hmacToken(claims, devKey, { alg: 'sha384', header: { alg: 'HS384', typ: 'JWT' } });
    forged['RS256 (real RSA signature)'] = `${rsInput}.${crypto.sign('sha256', Buffer.from(rsInput), privateKey).toString('base64url')}`;
    forged['RS256 header, HMAC with the key (alg confusion)'] = hmacToken(claims, devKey, { header: { alg: 'RS256', typ: 'JWT' } });
    forged['HS256, wrong key'] = hmacToken(claims, crypto.randomBytes(32).toString('hex'));
    forged['HS256, empty key'] = hmacToken(claims, '');
    forged['HS256, key prefix'] = hmacToken(claims, devKey.slice(0, 32));
    forged['expired (right key)'] = hmacToken({ ...claims, iat: nowS() - 3600, exp: nowS() - 60 }, devKey);
    forged['exp now (right key)'] = hmacToken({ ...claims, exp: nowS() }, devKey);
    forged['exp as a string'] = hmacToken({ ...claims, exp: String(nowS() + 600) }, devKey);
    forged['no exp'] = hmacToken({ sub: me.player_id, usn: me.username }, devKey);
    forged['no sub'] = hmacToken({ usn: me.username, exp: nowS() + 600 }, devKey);
    forged['typ JWS'] = hmacToken(claims, devKey, { header: { alg: 'HS256', typ: 'JWS' } });
    forged['tampered payload (sub of another player)'] = `${head}.${b64u({ ...claims, sub: other.player_id })}.${sig}`;
    forged['tampered payload (exp extended)'] = `${me.token.split('.')[0]}.${b64u({ ...JSON.parse(Buffer.from(me.token.split('.')[1], 'base64url')), exp: nowS() + 86400 * 365 })}.${sig}`;
    forged['signature of another token'] = `${head}.${me.token.split('.')[1]}.${other.token.split('.')[2]}`;
    forged['signature with padding'] = `${me.token}=`;
    forged['standard base64 signature'] = `${head}.${me.token.split('.')[1]}.${Buffer.from(sig, 'base64url').toString('base64')}`;
    forged['four segments'] = `${me.token}.${sig}`;
    forged['empty'] = '.';
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  it('control: a token crafted here with the development key is accepted (so the refusals below mean something)', async () => {
    const t = hmacToken({ sub: me.player_id, usn: me.username, iat: nowS(), exp: nowS() + 600 }, devKey);
    const res = await server.http('GET', '/v1/account', undefined, bearer(t));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.player_id, me.player_id);
    const reply = await wsConnect(server, t);
    assert.equal(reply.type, 'session.connected', JSON.stringify(reply));
  });

  it('REST Bearer: every forged token is 401 unauthorized', async () => {
    for (const [name, t] of Object.entries(forged)) {
      const res = await server.http('GET', '/v1/account', undefined, bearer(t));
      assert.equal(res.status, 401, `${name}: ${res.status} ${res.text}`);
      assert.equal(res.json.error.code, 'unauthorized', name);
    }
    // and on another Bearer route
    for (const name of ['alg none, empty signature', 'HS512 with the right key', 'expired (right key)']) {
      assertRestError(await server.http('POST', '/v1/matches', { mode: 'arena' }, bearer(forged[name])), 401, 'unauthorized');
    }
  });

  it('session.connect: every forged token is an unauthorized error, and the socket can still authenticate', async () => {
    const ws = await server.ws();
    for (const [name, t] of Object.entries(forged)) {
      const reply = await ws.request('session.connect', { token: t });
      assert.equal(reply.type, 'error', `${name}: ${JSON.stringify(reply)}`);
      assert.equal(reply.payload.code, 'unauthorized', `${name}: ${JSON.stringify(reply)}`);
      assert.equal(reply.payload.request_type, 'session.connect');
    }
    // nothing above authenticated the socket
    assert.equal((await ws.request('match.leave', {})).payload.code, 'unauthorized');
    assert.equal((await ws.request('session.connect', { token: me.token })).type, 'session.connected');
    await ws.close();
  });

  it('the reason is in the message: signature, algorithm, expiry', async () => {
    const msg = async (t) => (await server.http('GET', '/v1/account', undefined, bearer(t))).json.error.message;
    assert.match(await msg(forged['HS256, wrong key']), /signature/);
    assert.match(await msg(forged['alg none, empty signature']), /algorithm/);
    assert.match(await msg(forged['HS512 with the right key']), /algorithm/);
    assert.match(await msg(forged['expired (right key)']), /expired/);
  });

  it('Authorization without "Bearer", or a Basic header, is 401', async () => {
    for (const auth of [me.token, `Basic ${Buffer.from(`x:${me.token}`).toString('base64')}`, 'Bearer', 'Bearer ', `Token ${me.token}`]) {
      assertRestError(await server.http('GET', '/v1/account', undefined, { authorization: auth }), 401, 'unauthorized');
    }
  });

  it('a signature byte 0x80..0xFF in place of "_" is refused', async () => {
    // a token (right key) whose signature holds a '_'
    let t;
    for (let i = 0; !t || !t.split('.')[2].includes('_'); i++) {
      t = hmacToken({ sub: me.player_id, usn: me.username, iat: nowS(), exp: nowS() + 600, n: i }, devKey);
    }
    assert.equal((await server.http('GET', '/v1/account', undefined, bearer(t))).status, 200);
    const parts = t.split('.');
    const altered = `${parts[0]}.${parts[1]}.${parts[2].replace('_', '\u00df')}`; // one latin1 byte 0xDF
    const res = await server.http('GET', '/v1/account', undefined, bearer(altered));
    assert.equal(res.status, 401, `an altered token string was accepted: ${res.status}`);
  });
});

describe('refresh tokens: single use, revocable', () => {
  let server;
  before(async () => {
    server = await h.startServer({ args: ['--auth-rate', '100000'] });
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  it('logout revokes: the refresh token is then 401 (and a second logout says revoked false)', async () => {
    const a = (await server.http('POST', '/v1/auth/device', { device_id: `dev-${uniq()}` })).json;
    const out = await server.http('POST', '/v1/auth/logout', { refresh_token: a.refresh_token });
    assert.equal(out.status, 200, out.text);
    assert.equal(out.json.revoked, true);
    assertRestError(await server.http('POST', '/v1/auth/refresh', { refresh_token: a.refresh_token }), 401, 'unauthorized');
    assert.equal((await server.http('POST', '/v1/auth/logout', { refresh_token: a.refresh_token })).json.revoked, false);
  });

  it('a rotated refresh token cannot be replayed; the new one works once', async () => {
    const a = (await server.http('POST', '/v1/auth/device', { device_id: `dev-${uniq()}` })).json;
    const r1 = await server.http('POST', '/v1/auth/refresh', { refresh_token: a.refresh_token });
    assert.equal(r1.status, 200, r1.text);
    assert.notEqual(r1.json.refresh_token, a.refresh_token);
    assertRestError(await server.http('POST', '/v1/auth/refresh', { refresh_token: a.refresh_token }), 401, 'unauthorized');
    // parallel replays of one token: exactly one wins
    const replays = await Promise.all(
      Array.from({ length: 5 }, () => server.http('POST', '/v1/auth/refresh', { refresh_token: r1.json.refresh_token }))
    );
    assert.deepEqual(replays.map((r) => r.status).sort(), [200, 401, 401, 401, 401], replays.map((r) => r.text).join('\n'));
  });

  it('a made-up or altered refresh token is 401', async () => {
    const a = (await server.http('POST', '/v1/auth/device', { device_id: `dev-${uniq()}` })).json;
    const t = a.refresh_token;
    const flipped = (t[0] === 'A' ? 'B' : 'A') + t.slice(1);
    for (const bad of [flipped, `${t}x`, crypto.randomBytes(32).toString('base64url'), t.slice(0, 20)]) {
      assertRestError(await server.http('POST', '/v1/auth/refresh', { refresh_token: bad }), 401, 'unauthorized');
    }
    // the real one still works: failed guesses do not revoke it
    assert.equal((await server.http('POST', '/v1/auth/refresh', { refresh_token: t })).status, 200);
  });
});

describe('production mode refuses unsafe configuration', () => {
  let dataDir;
  let port;
  const strongSecret = crypto.randomBytes(32).toString('hex');
  const strongAdmin = crypto.randomBytes(16).toString('hex');
  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moonbase-sec-'));
    port = await h.freePort();
  });
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  // the refusals happen before the database is touched: an unreachable URL proves it
  const base = (url = 'postgres://nobody@127.0.0.1:1/none') => ['--host', '127.0.0.1', '--port', String(port),
    '--data-dir', dataDir, '--scripts', 'scripts', '--database-url', url, '--db-startup-timeout-ms', '0'];

  it('without --jwt-secret (the development key): exit 1, config_refused, no key file written', async () => {
    const r = await runServer([...base(), '--mode', 'production', '--admin-token', strongAdmin]);
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, /event=config_refused .*--jwt-secret/);
    assert.ok(!fs.existsSync(path.join(dataDir, 'dev-jwt-key')), 'no development key created');
    // the same through the environment
    const e = await runServer(base(), { env: { MOONBASE_MODE: 'production', MOONBASE_ADMIN_TOKEN: strongAdmin } });
    assert.equal(e.code, 1, e.output);
    assert.match(e.output, /event=config_refused/);
  });

  it('a weak admin token: shorter than 16 characters is refused in any mode (exit 2), a default one in production (exit 1)', async () => {
    for (const weak of ['admin', 'password', 'changeme', 'moonbase', 'admin1', 'x'.repeat(15)]) {
      for (const mode of ['production', 'development']) {
        const r = await runServer([...base(), '--mode', mode, '--jwt-secret', strongSecret, '--admin-token', weak]);
        assert.equal(r.code, 2, `${mode} ${weak}: ${r.output}`);
        assert.match(r.output, /admin-token must be at least 16 characters/, weak);
        assert.ok(!r.output.includes(strongSecret), 'the secret is not echoed');
      }
    }
    // long enough but on the default list: production refuses it
    const r = await runServer([...base(), '--mode', 'production', '--jwt-secret', strongSecret, '--admin-token', 'admin-admin-admin']);
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, /event=config_refused .*default admin token/);
    assert.ok(!r.output.includes('admin-admin-admin'), 'the refused token is not echoed');
  });

  it('a short --jwt-secret (< 32 characters) is refused (exit 2), and not echoed', async () => {
    for (const mode of ['production', 'development']) {
      const r = await runServer([...base(), '--mode', mode, '--jwt-secret', 'short-secret-0123456789', '--admin-token', strongAdmin]);
      assert.equal(r.code, 2, r.output);
      assert.match(r.output, /jwt-secret must be at least 32 characters/);
      assert.ok(!r.output.includes('short-secret-0123456789'));
    }
  });

  it('a strong secret and admin token: it starts; no admin token at all: admin API answers 403', async () => {
    const server = await h.startServer({ args: ['--mode', 'production', '--jwt-secret', strongSecret, '--admin-token', ''] });
    try {
      assert.match(server.logs(), /event=listening .*mode=production/);
      assert.ok(!fs.existsSync(path.join(server.dataDir, 'dev-jwt-key')), 'production never writes a development key');
      assert.ok(!fs.existsSync(path.join(server.dataDir, 'dev-admin-token')), 'nor a development admin token');
      const res = await server.http('GET', '/v1/admin/overview', undefined, bearer('anything-at-all-0123456789'));
      assertRestError(res, 403, 'forbidden');
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});

describe('admin routes need the admin token', () => {
  let server;
  let player;
  // every route the binary registers with admin auth (`moonbase describe`), so new ones are covered
  const adminRoutes = require('./registry').routes().filter((r) => r.auth === 'admin')
    .map((r) => ({ method: r.method, path: r.path.replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000') }));
  before(async () => {
    server = await h.startServer({ args: ['--auth-rate', '100000'] });
    player = await h.authed(server);
  });
  after(async () => {
    if (player) await player.ws.close();
    if (server) assert.equal(await server.stop(), 0);
  });

  it('the registry lists admin routes (moonbase describe)', () => {
    assert.ok(adminRoutes.length >= 5, JSON.stringify(adminRoutes));
    assert.ok(adminRoutes.some((r) => r.path === '/v1/admin/overview'));
  });

  it('no token, a wrong token, a player token, the token with extra bytes, another scheme: 401 on every admin route', async () => {
    const t = server.adminToken;
    const bad = [
      {},
      bearer('wrong-token-0123456789abcdef'),
      bearer(t.slice(0, -1)),
      bearer(`${t}x`),
      bearer(t.toUpperCase() === t ? t.toLowerCase() : t.toUpperCase()),
      bearer(player.token),
      { authorization: t },
      { authorization: `Basic ${Buffer.from(`admin:${t}`).toString('base64')}` },
      { 'x-admin-token': t },
    ];
    for (const r of adminRoutes) {
      for (const headers of bad) {
        const body = r.method === 'GET' ? undefined : {};
        const res = await server.http(r.method, r.path, body, headers);
        assert.ok([401, 403].includes(res.status), `${r.method} ${r.path} with ${JSON.stringify(headers)}: ${res.status} ${res.text}`);
        assert.equal(res.status, 401, `${r.method} ${r.path}`);
        assert.equal(res.json.error.code, 'unauthorized');
      }
    }
  });

  it('the right token opens the read-only routes (control)', async () => {
    for (const r of adminRoutes.filter((x) => x.method === 'GET' && !x.path.includes('00000000-'))) {
      const res = await server.http('GET', r.path, undefined, bearer(server.adminToken));
      assert.equal(res.status, 200, `${r.path}: ${res.text}`);
    }
  });

  it('the admin token is not a player token: Bearer routes refuse it', async () => {
    assertRestError(await server.http('GET', '/v1/account', undefined, bearer(server.adminToken)), 401, 'unauthorized');
    const reply = await wsConnect(server, server.adminToken);
    assert.equal(reply.payload.code, 'unauthorized');
  });
});

describe('secrets never appear in the log (log level debug)', () => {
  it('JWT secret, admin token, passwords, session and refresh tokens are not logged', async () => {
    const secret = `sec-${crypto.randomBytes(24).toString('hex')}`;
    const admin = `adm-${crypto.randomBytes(16).toString('hex')}`;
    const password = `Pw-${crypto.randomBytes(9).toString('base64url')}`;
    const wrongPassword = `Wrong-${crypto.randomBytes(9).toString('base64url')}`;
    const server = await h.startServer({ adminToken: admin, args: ['--jwt-secret', secret, '--auth-rate', '100000'] });
    const secrets = [secret, admin, password, wrongPassword];
    try {
      const email = `sec_${uniq()}@example.com`;
      const created = await server.http('POST', '/v1/auth/email', { email, password, create: true });
      assert.equal(created.status, 201, created.text);
      secrets.push(created.json.token, created.json.refresh_token);
      assertRestError(await server.http('POST', '/v1/auth/email', { email, password: wrongPassword }), 401, 'unauthorized');
      const login = await server.http('POST', '/v1/auth/email', { email, password });
      secrets.push(login.json.token, login.json.refresh_token);
      const refreshed = await server.http('POST', '/v1/auth/refresh', { refresh_token: login.json.refresh_token });
      secrets.push(refreshed.json.token, refreshed.json.refresh_token);
      await server.http('POST', '/v1/auth/logout', { refresh_token: refreshed.json.refresh_token });
      // failures that log: bad bearer, bad session.connect, bad admin token, bad refresh
      const forgedT = hmacToken({ sub: created.json.player_id, exp: nowS() + 60 }, 'not-the-secret');
      secrets.push(forgedT);
      await server.http('GET', '/v1/account', undefined, bearer(forgedT));
      await server.http('GET', '/v1/account', undefined, bearer(login.json.token));
      await wsConnect(server, forgedT);
      await wsConnect(server, created.json.token);
      await server.http('GET', '/v1/admin/overview', undefined, bearer(`${admin}0`));
      await server.http('GET', '/v1/admin/overview', undefined, bearer(admin));
      await server.http('POST', '/v1/auth/refresh', { refresh_token: login.json.refresh_token }); // rotated: 401
      // a device login and a password change of a real account (PATCH path)
      const dev = await server.http('POST', '/v1/auth/device', { device_id: `device-${uniq()}` });
      secrets.push(dev.json.token, dev.json.refresh_token);
      // bad JSON containing the password: the parse error must not echo it into the log either
      await server.http('POST', '/v1/auth/email', `{"email":"${email}","password":"${password}"`);
    } finally {
      assert.equal(await server.stop(), 0);
    }
    const log = server.logs();
    assert.ok(log.length > 1000, 'the server logged at debug level');
    for (const s of secrets) {
      assert.ok(s && s.length >= 12);
      // whole value, and any 16-character window of it (no partial leak either)
      assert.ok(!log.includes(s), `secret found in the log: ${s.slice(0, 6)}...`);
      for (let i = 0; i + 16 <= s.length; i += 4) {
        assert.ok(!log.includes(s.slice(i, i + 16)), `part of a secret found in the log: ${s.slice(0, 6)}... at ${i}`);
      }
    }
  });

  it('the development key and admin token files are named in the log, never their content', async () => {
    const server = await h.startServer({ args: ['--admin-token', ''] }); // dev mode generates both
    await h.authed(server).then((s) => s.ws.close());
    assert.equal(await server.stop(), 0);
    const key = fs.readFileSync(path.join(server.dataDir, 'dev-jwt-key'), 'utf8').trim();
    const adm = fs.readFileSync(path.join(server.dataDir, 'dev-admin-token'), 'utf8').trim();
    assert.ok(key.length >= 32 && adm.length >= 16);
    const log = server.logs();
    assert.match(log, /dev-jwt-key/);
    assert.ok(!log.includes(key), 'development JWT key in the log');
    assert.ok(!log.includes(adm), 'development admin token in the log');
    const mode = (f) => fs.statSync(path.join(server.dataDir, f)).mode & 0o777;
    assert.equal(mode('dev-jwt-key'), 0o600, 'key file readable by its owner only');
    assert.equal(mode('dev-admin-token'), 0o600);
  });
});

// ---- source scan helper (the admin-route scan above) ---------------------------------------
// The SQL and constant-time source checks live in tools/lint-sources.js (a tools/test.sh step).

function* walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}

describe('login attempts are rate-limited', () => {
  it('per account: the 6th wrong password within a minute is 429 (even with the right password); another account is not limited', async () => {
    const server = await h.startServer({ args: ['--auth-rate', '100000'] });
    try {
      const email = `rl_${uniq()}@example.com`;
      const other = `rl_${uniq()}@example.com`;
      const password = `Right-${uniq()}-pw`;
      for (const e of [email, other]) {
        assert.equal((await server.http('POST', '/v1/auth/email', { email: e, password, create: true })).status, 201);
      }
      for (let i = 1; i <= 5; i++) {
        assertRestError(await server.http('POST', '/v1/auth/email', { email, password: `wrong-${i}-password` }), 401, 'unauthorized');
      }
      assertRestError(await server.http('POST', '/v1/auth/email', { email, password: 'wrong-6-password' }), 429, 'rate_limited');
      assertRestError(await server.http('POST', '/v1/auth/email', { email, password }), 429, 'rate_limited');
      // the limit is per account (case-insensitive email), not per IP
      assertRestError(await server.http('POST', '/v1/auth/email', { email: email.toUpperCase(), password }), 429, 'rate_limited');
      assert.equal((await server.http('POST', '/v1/auth/email', { email: other, password })).status, 200);
      assertRestError(await server.http('POST', '/v1/auth/email', { email: other, password: 'nope-nope' }), 401, 'unauthorized');
      // an unknown email is limited the same way (no account enumeration through timing of 429s)
      const ghost = `ghost_${uniq()}@example.com`;
      for (let i = 0; i < 5; i++) assertRestError(await server.http('POST', '/v1/auth/email', { email: ghost, password: 'whatever-1' }), 401, 'unauthorized');
      assertRestError(await server.http('POST', '/v1/auth/email', { email: ghost, password: 'whatever-1' }), 429, 'rate_limited');
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  it('per IP (--auth-rate 5): the 6th auth request within a minute is 429, across auth routes; other routes are not limited', async () => {
    const server = await h.startServer({ args: ['--auth-rate', '5'] });
    try {
      const statuses = [];
      const reqs = [
        () => server.http('POST', '/v1/auth/device', { device_id: `device-${uniq()}` }),
        () => server.http('POST', '/v1/auth/email', { email: `ip_${uniq()}@example.com`, password: 'wrong-password' }),
        () => server.http('POST', '/v1/auth/refresh', { refresh_token: 'x'.repeat(43) }),
        () => server.http('POST', '/v1/auth/logout', { refresh_token: 'x'.repeat(43) }),
        () => server.http('POST', '/v1/auth/device', { device_id: `device-${uniq()}` }),
      ];
      for (const r of reqs) statuses.push((await r()).status);
      assert.ok(statuses.every((s) => s !== 429), JSON.stringify(statuses));
      for (const r of reqs) assertRestError(await r(), 429, 'rate_limited');
      // a flood of 50 more: all 429, the server stays healthy and non-auth routes answer
      const flood = await Promise.all(Array.from({ length: 50 }, () => reqs[0]()));
      assert.ok(flood.every((r) => r.status === 429), JSON.stringify(flood.map((r) => r.status)));
      assert.equal((await server.http('GET', '/healthz')).status, 200);
      assert.equal((await server.http('GET', '/metrics')).status, 200);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
