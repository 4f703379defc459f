// Shared set-up of the SDK tests: a real server (tests/integration/harness.js) and players made
// with the SDK itself.
import { cpSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import WebSocket from 'ws';
import harness from '../../../tests/integration/harness.js';
import { Client } from '../src/moonbase-client.js';

export const h = harness;
export { WebSocket };
const here = dirname(fileURLToPath(import.meta.url));

/** The repo's scripts/ plus test/fixtures/modes/*.lua, in a temporary folder. */
export function testScripts() {
  const dir = mkdtempSync(join(tmpdir(), 'moonbase-sdk-scripts-'));
  cpSync(join(harness.REPO_ROOT, 'scripts'), dir, { recursive: true });
  const fx = join(here, 'fixtures', 'modes');
  for (const f of readdirSync(fx)) cpSync(join(fx, f), join(dir, 'modes', f));
  return dir;
}

/** startServer with the SDK test defaults (no auth rate limit in the way, fixture modes). */
export function startServer(opts = {}) {
  return harness.startServer({
    scripts: opts.scripts || testScripts(),
    ...opts,
    args: ['--auth-rate', '100000', ...(opts.args || [])],
  });
}

export const deviceId = (p = 'sdk') => `${p}-${randomBytes(8).toString('hex')}`;

/** A signed-in Client (device auth). */
export async function signedIn(server, { device = deviceId(), username, ...options } = {}) {
  const client = new Client(server.baseUrl, { WebSocket, ...options });
  await client.authenticateDevice(device, username ? { username } : {});
  return client;
}

// Sockets made here are closed when the test file ends, so none keeps reconnecting to a
// stopped server (which would keep the process alive).
const sockets = new Set();
after(() => {
  for (const s of sockets) s.close();
});

/** A new Socket of `client`, closed automatically when the file ends. */
export function track(socket) {
  sockets.add(socket);
  return socket;
}

/** A signed-in Client and its connected Socket (heartbeats every 500 ms unless told). */
export async function player(server, { socket: socketOptions = {}, ...opts } = {}) {
  const client = await signedIn(server, opts);
  const socket = track(client.socket({ heartbeatMs: 500, requestTimeoutMs: 5000, ...socketOptions }));
  await socket.connect();
  return { client, socket, id: client.session.player_id, name: client.session.username };
}

/** Collects the payloads of one event type. */
export function collect(socket, type) {
  const list = [];
  socket.on(type, (p) => list.push(p));
  return list;
}

/** Polls fn() until it returns a truthy value (or throws after timeoutMs). */
export async function until(fn, { timeoutMs = 5000, everyMs = 20, what = 'condition' } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
