'use strict';
// The documented nginx configuration (deploy/nginx/moonbase.conf, shown in docs/DEPLOYING.md) in
// front of a real server (issue "Reliability round 2", item 7). The test reads that file, swaps
// only the listen ports, the upstream port and the certificate paths (each must be found exactly
// once, so the example cannot drift from what is tested), and runs Debian's nginx as a normal
// process with its pid, logs and temp folders in a temporary folder. Through it: REST over https,
// a WebSocket session over wss:// (upgrade headers), a close code from the server (4001 kick)
// reaching the client, IPv6 ([::1]) as in the example, /metrics not exposed. nginx is stopped by
// its PID.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');
const { makeCa, httpsRequest } = require('./tls_certs');

const WebSocket = require('ws');
const EXAMPLE = path.join(h.REPO_ROOT || path.resolve(__dirname, '..', '..'), 'deploy', 'nginx', 'moonbase.conf');
const NGINX = fs.existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
const serverEnv = () => ({ ASAN_OPTIONS: `${process.env.ASAN_OPTIONS || 'detect_leaks=1'}:quarantine_size_mb=8` });

/** Replace `from` (which must occur exactly once) in text. */
function swap(text, from, to) {
  const n = text.split(from).length - 1;
  assert.equal(n, 1, `deploy/nginx/moonbase.conf: expected "${from}" exactly once, found ${n} (update the test with the example)`);
  return text.replace(from, to);
}


describe('the documented nginx configuration in front of a real server', () => {
  let server;
  let nginx;
  let nginxExited;
  let port; // nginx's
  let pki;
  let dir;
  let nginxLog = '';

  before(async () => {
    execFileSync(NGINX, ['-v'], { stdio: 'ignore' }); // Debian's nginx must be installed (tools/install-deps.sh)
    server = await h.startServer({ env: serverEnv() });
    pki = makeCa();
    const cert = pki.issue('nginx', '4004');
    dir = pki.dir;
    port = await h.freePort();
    let site = fs.readFileSync(EXAMPLE, 'utf8');
    site = swap(site, 'server 127.0.0.1:7350;', `server 127.0.0.1:${server.port};`);
    site = swap(site, 'listen 443 ssl http2;', `listen 127.0.0.1:${port} ssl http2;`);
    site = swap(site, 'listen [::]:443 ssl http2;', `listen [::1]:${port} ssl http2;`);
    site = swap(site, '/etc/ssl/moonbase/fullchain.pem', cert.cert);
    site = swap(site, '/etc/ssl/moonbase/privkey.pem', cert.key);
    fs.writeFileSync(path.join(dir, 'moonbase.conf'), site);
    const root = process.getuid && process.getuid() === 0;
    // The surrounding nginx.conf: what Debian's /etc/nginx/nginx.conf provides, in the temp folder.
    fs.writeFileSync(path.join(dir, 'nginx.conf'), [
      root ? 'user root;' : '', // as root nginx would switch its workers to nobody, who cannot read the temp folder
      'daemon off;',
      'worker_processes 1;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log info;`,
      'events { worker_connections 256; }',
      'http {',
      `  access_log ${dir}/access.log;`,
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t}_temp;`),
      `  include ${dir}/moonbase.conf;`,
      '}',
      '',
    ].join('\n'));
    const args = ['-p', `${dir}/`, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`];
    execFileSync(NGINX, [...args, '-t'], { stdio: 'pipe' }); // the configuration is valid
    nginx = spawn(NGINX, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    nginx.stdout.on('data', (d) => (nginxLog += d));
    nginx.stderr.on('data', (d) => (nginxLog += d));
    nginxExited = new Promise((resolve) => nginx.on('exit', (code, signal) => resolve({ code, signal })));
    await h.waitFor('nginx answering /healthz', async () => (await httpsRequest(port, 'GET', '/healthz', { ca: pki.ca }).catch(() => ({}))).status === 200, 15000);
  });

  after(async () => {
    if (nginx && nginx.exitCode === null) {
      process.kill(nginx.pid, 'SIGQUIT'); // graceful stop, by its PID
      const r = await h.withTimeout(nginxExited, 10000, 'nginx exit').catch(() => {
        process.kill(nginx.pid, 'SIGKILL');
        return { code: null, signal: 'SIGKILL' };
      });
      assert.equal(r.signal, null, `nginx had to be killed; its log:\n${nginxLog}\n${fs.readFileSync(`${dir}/error.log`, 'utf8').slice(-2000)}`);
    }
    if (server) assert.equal(await server.stop(), 0);
  });

  let login;
  it('docs/DEPLOYING.md shows this very file', () => {
    const doc = fs.readFileSync(path.join(path.dirname(EXAMPLE), '..', '..', 'docs', 'DEPLOYING.md'), 'utf8');
    const block = /```nginx\n([\s\S]*?)```/.exec(doc);
    assert.ok(block, 'an nginx code block in docs/DEPLOYING.md');
    assert.equal(block[1], fs.readFileSync(EXAMPLE, 'utf8'), 'docs/DEPLOYING.md and deploy/nginx/moonbase.conf differ');
  });

  it('REST over https through nginx', async () => {
    const r = await httpsRequest(port, 'POST', '/v1/auth/device', { ca: pki.ca, body: { device_id: `nginx-${crypto.randomBytes(4).toString('hex')}` } });
    assert.ok([200, 201].includes(r.status), r.text);
    login = r.json;
    const me = await httpsRequest(port, 'GET', '/v1/account', { ca: pki.ca, headers: { authorization: `Bearer ${login.token}` } });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.player_id || me.json.id || me.json.account?.player_id, login.player_id, me.text);
    // several requests in a row go through nginx's keep-alive upstream connections
    for (let i = 0; i < 5; i++) assert.equal((await httpsRequest(port, 'GET', '/healthz', { ca: pki.ca })).status, 200);
  });

  it('/metrics is not exposed through the proxy (it is on the server itself)', async () => {
    assert.equal((await httpsRequest(port, 'GET', '/metrics', { ca: pki.ca })).status, 404);
    assert.equal((await server.http('GET', '/metrics')).status, 200);
  });

  async function wssSession(url) {
    const ws = new WebSocket(url, { ca: pki.ca, servername: 'localhost', handshakeTimeout: 10000 });
    const inbox = [];
    const waiters = [];
    ws.on('message', (d) => {
      inbox.push(JSON.parse(d.toString()));
      for (const w of waiters.splice(0)) w();
    });
    const closed = new Promise((res) => ws.on('close', (code, reason) => res({ code, reason: reason.toString() })));
    await new Promise((res, rej) => {
      ws.once('open', res);
      ws.once('error', rej);
    });
    const next = (pred) => h.waitFor('a message through nginx', () => inbox.find(pred), 5000, 20);
    const request_ = async (type, payload) => {
      const cid = crypto.randomBytes(6).toString('hex');
      ws.send(JSON.stringify({ cid, type, payload }));
      return next((m) => m.cid === cid);
    };
    return { ws, closed, request: request_ };
  }

  it('a WebSocket session over wss:// through nginx; a close code from the server reaches the client', async () => {
    const s = await wssSession(`wss://127.0.0.1:${port}/ws`);
    assert.equal((await s.request('session.connect', { token: login.token })).type, 'session.connected');
    assert.equal((await s.request('session.heartbeat', {})).type, 'session.heartbeat');
    // a message bigger than nginx's buffers passes whole (proxy_buffering off, no size limit of nginx's)
    const big = await s.request('session.heartbeat', { pad: 'x'.repeat(60000) });
    assert.equal(big.type, 'session.heartbeat');
    const kick = await httpsRequest(port, 'POST', `/v1/admin/players/${login.player_id}/kick`, { ca: pki.ca, headers: { authorization: `Bearer ${server.adminToken}` }, body: {} });
    assert.ok(kick.status < 300, kick.text);
    const c = await h.withTimeout(s.closed, 5000, 'close after the kick');
    assert.equal(c.code, 4001, JSON.stringify(c));
  });

  it('the [::1] listener of the example works as well', async () => {
    const s = await wssSession(`wss://[::1]:${port}/ws`);
    assert.equal((await s.request('session.connect', { token: login.token })).type, 'session.connected');
    s.ws.close(1000);
    assert.equal((await h.withTimeout(s.closed, 5000, 'close')).code, 1000);
  });

  it('the server saw the proxied WebSockets as WebSockets (session_open through nginx)', async () => {
    const n = (server.logs().match(/event=session_open /g) || []).length;
    assert.ok(n >= 2, `${n} sessions opened`);
    assert.match(fs.readFileSync(`${dir}/access.log`, 'utf8'), /"GET \/ws HTTP\/1\.1" 101 /);
  });
});
