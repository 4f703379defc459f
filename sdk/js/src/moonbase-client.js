// SPDX-License-Identifier: Apache-2.0
// moonbase-client: the JavaScript SDK of the Moonbase game server.
//
// One ES module with no dependencies. In a browser it uses the global `fetch` and `WebSocket`;
// in Node.js (20+) `fetch` is global and a WebSocket implementation is passed in:
//
//   import WebSocket from 'ws';
//   import { Client } from 'moonbase-client';
//   const client = new Client('http://127.0.0.1:7350', { WebSocket });
//   await client.authenticateDevice('my-device-id');
//   const socket = client.socket();
//   await socket.connect();
//
// Three classes:
//   Client       REST (/v1/*) with the player's session: auth, account, matches, RPC, matchmaker
//                stats, friends, notifications, chat history, presence. Refreshes the session
//                token by itself when it expires.
//   Socket       the real-time connection (/ws): request/response by cid, heartbeats, one helper
//                per client message, one event per server message, reconnection with backoff
//                that re-authenticates and rejoins the current match, chat channels and tickets.
//   AdminClient  the /v1/admin/* routes with the admin token (what the console uses).
// Every failure is a MoonbaseError with a `code` (the server's codes, plus `timeout`,
// `disconnected` and `network` from the SDK itself).
//
// The browser copies in demo/ and console/ are generated from this file (sdk/js: npm run build).

export const VERSION = '0.1.0';

// ------------------------------------------------------------------------------------------
// Errors

/** Error codes: the server's, then the SDK's own. */
export const ErrorCode = Object.freeze({
  BAD_REQUEST: 'bad_request',
  UNAUTHORIZED: 'unauthorized',
  FORBIDDEN: 'forbidden',
  NOT_FOUND: 'not_found',
  CONFLICT: 'conflict',
  RATE_LIMITED: 'rate_limited',
  UNAVAILABLE: 'unavailable',
  INTERNAL: 'internal',
  UNSUPPORTED: 'unsupported',
  ACCOUNT_BANNED: 'account_banned', // sign-in of a banned account (403)
  TIMEOUT: 'timeout', // no reply in time (SDK)
  DISCONNECTED: 'disconnected', // the socket is not connected, or closed before the reply (SDK)
  NETWORK: 'network', // the HTTP request did not reach the server (SDK)
});

const STATUS_CODES = { 400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 409: 'conflict', 429: 'rate_limited', 503: 'unavailable' };

/**
 * Every error the SDK raises. `code` is one of ErrorCode; `status` is the HTTP status of a REST
 * failure; `reason` is the finer reason the server gives for some socket errors (votes:
 * `not_found`, `vote_closed`, `not_eligible`, `malformed`, `empty`, `unknown_option`,
 * `no_tokens`, `veto_disabled`); `requestType` is the message type a socket error answers.
 */
export class MoonbaseError extends Error {
  constructor(code, message, details = {}) {
    super(message || code);
    this.name = 'MoonbaseError';
    this.code = code;
    this.status = details.status ?? null;
    this.reason = details.reason ?? null;
    this.requestType = details.requestType ?? null;
    this.cid = details.cid ?? null;
    this.payload = details.payload ?? null;
    if (details.cause !== undefined) this.cause = details.cause;
  }

  /** From the payload of a socket `error` message. */
  static fromPayload(payload, cid) {
    const p = payload || {};
    return new MoonbaseError(p.code || 'internal', p.message || p.code || 'error', {
      reason: p.reason,
      requestType: p.request_type,
      cid,
      payload: p,
    });
  }
}

// ------------------------------------------------------------------------------------------
// Small helpers

function reportListenerError(err) {
  if (typeof globalThis.reportError === 'function') globalThis.reportError(err);
  else console.error('moonbase-client: a listener threw', err);
}

/** Minimal event emitter: on() returns the function that removes the listener. */
class Emitter {
  constructor() {
    this._listeners = new Map();
  }
  on(type, fn) {
    if (typeof fn !== 'function') throw new TypeError('listener must be a function');
    let set = this._listeners.get(type);
    if (!set) this._listeners.set(type, (set = new Set()));
    const entry = { fn };
    set.add(entry);
    return () => set.delete(entry);
  }
  once(type, fn) {
    const off = this.on(type, (...args) => {
      off();
      fn(...args);
    });
    return off;
  }
  count(type) {
    const set = this._listeners.get(type);
    return set ? set.size : 0;
  }
  emit(type, ...args) {
    const set = this._listeners.get(type);
    if (!set || set.size === 0) return false;
    for (const entry of [...set]) {
      try {
        entry.fn(...args);
      } catch (err) {
        reportListenerError(err);
      }
    }
    return true;
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      if (signal) signal.removeEventListener('abort', done);
      resolve();
    }
    if (signal) signal.addEventListener('abort', done, { once: true });
  });
}

function defaultBaseUrl() {
  if (globalThis.location && globalThis.location.origin && globalThis.location.origin !== 'null') return globalThis.location.origin;
  throw new TypeError('baseUrl is required (e.g. "http://127.0.0.1:7350")');
}

function query(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null) continue;
    const val = Array.isArray(v) ? v.join(',') : String(v);
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(val)}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

const seg = (s) => encodeURIComponent(String(s));

/**
 * One JSON HTTP request. Resolves with the parsed body (null when empty); rejects with a
 * MoonbaseError: the server's {"error": {code, message}}, `timeout`, or `network`.
 */
async function httpJson(fetchFn, url, { method = 'GET', body, headers = {}, timeoutMs = 10000 } = {}) {
  const init = { method, headers: { accept: 'application/json', ...headers } };
  // Every request but GET carries a JSON body, {} when there is nothing to say: the server
  // mishandles an empty POST/PATCH body (docs/REST.md, Known limitations).
  if (body === undefined && method !== 'GET' && method !== 'HEAD') body = {};
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let timer;
  let timedOut = false;
  if (typeof AbortController === 'function' && timeoutMs > 0) {
    const ac = new AbortController();
    init.signal = ac.signal;
    timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, timeoutMs);
  }
  let res;
  let text;
  try {
    res = await fetchFn(url, init);
    text = await res.text();
  } catch (err) {
    if (timedOut) throw new MoonbaseError('timeout', `${method} ${url}: no answer within ${timeoutMs} ms`, { cause: err });
    throw new MoonbaseError('network', `${method} ${url}: ${err && err.message ? err.message : err}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  if (res.status >= 200 && res.status < 300) {
    if (json === undefined) throw new MoonbaseError('internal', `${method} ${url}: the answer is not JSON`, { status: res.status });
    return json;
  }
  const e = json && json.error ? json.error : {};
  const code = e.code || STATUS_CODES[res.status] || 'internal';
  throw new MoonbaseError(code, e.message || `${method} ${url}: HTTP ${res.status}`, { status: res.status, payload: json || null });
}

// ------------------------------------------------------------------------------------------
// Session

/** The player's tokens, from an auth reply. Serialise with JSON.stringify, restore with new Session(obj). */
export class Session {
  constructor(data) {
    this.token = data.token;
    this.refresh_token = data.refresh_token ?? null;
    this.player_id = data.player_id;
    this.username = data.username;
    this.created = !!data.created;
    // Absolute expiry (ms since epoch): from the reply's expires_in, else from the token.
    this.expires_at = data.expires_at ?? (data.expires_in ? Date.now() + data.expires_in * 1000 : Session.tokenExpiry(data.token));
  }

  /** The `exp` claim of a JWT in ms, or null. */
  static tokenExpiry(token) {
    try {
      const part = String(token).split('.')[1];
      const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
      const claims = JSON.parse(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)));
      return typeof claims.exp === 'number' ? claims.exp * 1000 : null;
    } catch {
      return null;
    }
  }

  /** True when the token expires within `marginMs` (default 30 s). */
  expired(marginMs = 30000) {
    return this.expires_at != null && Date.now() + marginMs >= this.expires_at;
  }

  toJSON() {
    const { token, refresh_token, player_id, username, created, expires_at } = this;
    return { token, refresh_token, player_id, username, created, expires_at };
  }
}

// ------------------------------------------------------------------------------------------
// Client (REST)

/**
 * REST client of one player. Options: fetch, WebSocket (for socket()), timeoutMs (10000),
 * session (a Session or its JSON, to resume), autoRefresh (true: refresh the token before it
 * expires and once after a 401).
 */
export class Client {
  constructor(baseUrl, options = {}) {
    this.baseUrl = String(baseUrl || defaultBaseUrl()).replace(/\/+$/, '');
    const f = options.fetch || globalThis.fetch;
    if (typeof f !== 'function') throw new TypeError('no fetch implementation: pass {fetch}');
    this.fetch = options.fetch ? f : f.bind(globalThis);
    this.WebSocket = options.WebSocket || globalThis.WebSocket || null;
    this.timeoutMs = options.timeoutMs ?? 10000;
    this.autoRefresh = options.autoRefresh ?? true;
    this.session = options.session ? new Session(options.session) : null;
    this._events = new Emitter();
    this._refreshing = null;
    this._device = null; // {device_id, username}: lets the SDK sign in again when refresh fails
  }

  /** WebSocket URL of the server (ws:// or wss://, path /ws). */
  get wsUrl() {
    return this.baseUrl.replace(/^http/i, 'ws') + '/ws';
  }

  /** Called with the new Session (or null) whenever it changes: store it to resume later. */
  onSessionChange(fn) {
    return this._events.on('session', fn);
  }

  _setSession(data) {
    this.session = data ? new Session(data) : null;
    this._events.emit('session', this.session);
    return this.session;
  }

  /** Raw REST call. auth: 'bearer' (default) or 'none'. Resolves with the JSON body. */
  async request(method, path, { body, query: q, auth = 'bearer', timeoutMs } = {}) {
    const url = this.baseUrl + path + query(q);
    const opts = { method, body, timeoutMs: timeoutMs ?? this.timeoutMs };
    if (auth !== 'bearer') return httpJson(this.fetch, url, opts);
    const token = await this.validToken();
    try {
      return await httpJson(this.fetch, url, { ...opts, headers: { authorization: `Bearer ${token}` } });
    } catch (err) {
      if (err.code !== 'unauthorized' || !this.autoRefresh || !this._canRenew()) throw err;
      const fresh = await this.validToken({ force: true });
      return httpJson(this.fetch, url, { ...opts, headers: { authorization: `Bearer ${fresh}` } });
    }
  }

  _canRenew() {
    return !!((this.session && this.session.refresh_token) || this._device);
  }

  /**
   * A session token that is not about to expire: refreshes it first when needed (or always
   * with force). Concurrent callers share one refresh.
   */
  async validToken({ force = false } = {}) {
    if (!this.session) throw new MoonbaseError('unauthorized', 'not signed in: call authenticateDevice or authenticateEmail first');
    if (!force && (!this.autoRefresh || !this.session.expired())) return this.session.token;
    if (!this._refreshing) {
      this._refreshing = this._renew().finally(() => {
        this._refreshing = null;
      });
    }
    return (await this._refreshing).token;
  }

  async _renew() {
    if (this.session && this.session.refresh_token) {
      try {
        return await this.refresh();
      } catch (err) {
        if (err.code !== 'unauthorized' || !this._device) throw err;
      }
    }
    if (this._device) return this.authenticateDevice(this._device.device_id, { username: this._device.username });
    throw new MoonbaseError('unauthorized', 'session expired and there is no refresh token');
  }

  // ---- auth

  /** POST /v1/auth/device: signs in (creating the account on first use). */
  async authenticateDevice(deviceId, { username } = {}) {
    const body = { device_id: deviceId };
    if (username !== undefined) body.username = username;
    const reply = await this.request('POST', '/v1/auth/device', { body, auth: 'none' });
    this._device = { device_id: deviceId, username: undefined };
    return this._setSession(reply);
  }

  /** POST /v1/auth/email: signs in, or creates the account with {create: true}. */
  async authenticateEmail(email, password, { create, username } = {}) {
    const body = { email, password };
    if (create !== undefined) body.create = create;
    if (username !== undefined) body.username = username;
    const reply = await this.request('POST', '/v1/auth/email', { body, auth: 'none' });
    this._device = null;
    return this._setSession(reply);
  }

  /** POST /v1/auth/refresh: a new session token and a new (rotated) refresh token. */
  async refresh(refreshToken = this.session && this.session.refresh_token) {
    if (!refreshToken) throw new MoonbaseError('unauthorized', 'no refresh token');
    const reply = await this.request('POST', '/v1/auth/refresh', { body: { refresh_token: refreshToken }, auth: 'none' });
    return this._setSession(reply);
  }

  /** POST /v1/auth/logout: revokes the refresh token and forgets the session. Resolves {revoked}. */
  async logout(refreshToken = this.session && this.session.refresh_token) {
    let reply = { revoked: false };
    if (refreshToken) reply = await this.request('POST', '/v1/auth/logout', { body: { refresh_token: refreshToken }, auth: 'none' });
    this._device = null;
    this._setSession(null);
    return reply;
  }

  // ---- account

  /** GET /v1/account */
  getAccount() {
    return this.request('GET', '/v1/account');
  }

  /** PATCH /v1/account {username?, display_name?, metadata?} */
  async updateAccount(changes) {
    const account = await this.request('PATCH', '/v1/account', { body: changes });
    if (this.session && account && account.username && account.username !== this.session.username) {
      this._setSession({ ...this.session.toJSON(), username: account.username });
    }
    return account;
  }

  /** DELETE /v1/account: deletes the account for good and forgets the session. */
  async deleteAccount() {
    const reply = await this.request('DELETE', '/v1/account');
    this._device = null;
    this._setSession(null);
    return reply;
  }

  // ---- matches and RPC

  /** POST /v1/matches {mode, params?} -> {match_id, mode, script_version} */
  createMatch(mode, params) {
    const body = { mode };
    if (params !== undefined) body.params = params;
    return this.request('POST', '/v1/matches', { body });
  }

  /**
   * GET /v1/matches -> {matches: [...]} (live matches), filtered by mode, label (an object:
   * every key must equal, sent as label.<key>=<value>), open (true: joinable now) and limit.
   */
  listMatches({ mode, label, open, limit } = {}) {
    const q = { mode, open, limit };
    for (const [k, v] of Object.entries(label || {})) q[`label.${k}`] = v;
    return this.request('GET', '/v1/matches', { query: q });
  }

  /** GET /v1/matches/{id}: a live or finished match (with its votes). */
  getMatch(matchId) {
    return this.request('GET', `/v1/matches/${seg(matchId)}`);
  }

  /** POST /v1/rpc/{name} with a JSON object; resolves with the script's return value. */
  rpc(name, payload = {}) {
    return this.request('POST', `/v1/rpc/${seg(name)}`, { body: payload });
  }

  /** GET /v1/matchmaker/stats -> {tickets, modes: {mode: {tickets, oldest_wait_ms, ...}}} */
  matchmakerStats() {
    return this.request('GET', '/v1/matchmaker/stats');
  }

  // ---- friends

  /** GET /v1/friends?state= (friend | invite_sent | invite_received | blocked) -> {friends} */
  listFriends({ state } = {}) {
    return this.request('GET', '/v1/friends', { query: { state } });
  }

  /** POST /v1/friends {player_id} or {username}: sends a request, or accepts one -> {player_id, username, state} */
  addFriend(target) {
    const body = typeof target === 'string' ? { player_id: target } : target;
    return this.request('POST', '/v1/friends', { body });
  }

  /** DELETE /v1/friends/{player_id}: unfriend, cancel, decline or unblock -> {player_id, state, previous_state} */
  removeFriend(playerId) {
    return this.request('DELETE', `/v1/friends/${seg(playerId)}`);
  }

  /** POST /v1/friends/{player_id}/block */
  blockPlayer(playerId) {
    return this.request('POST', `/v1/friends/${seg(playerId)}/block`);
  }

  // ---- notifications

  /** GET /v1/notifications?unread=&limit=&cursor= -> {notifications, next_cursor} */
  listNotifications({ unread, limit, cursor } = {}) {
    return this.request('GET', '/v1/notifications', { query: { unread, limit, cursor } });
  }

  /** POST /v1/notifications/read {ids} (1..100), or every notification with 'all' -> {updated} */
  markNotificationsRead(ids) {
    const body = ids === 'all' ? { all: true } : { ids: [].concat(ids) };
    return this.request('POST', '/v1/notifications/read', { body });
  }

  /** DELETE /v1/notifications/{id} */
  deleteNotification(id) {
    return this.request('DELETE', `/v1/notifications/${seg(id)}`);
  }

  // ---- storage objects (docs/STORAGE.md)

  /**
   * PUT /v1/storage {objects}: writes the player's objects, all or nothing -> {objects: acks}.
   * Each: {collection, key, value, version?, permission_read?, permission_write?}; version "*"
   * writes only a new object, a version only an unchanged one (else 409 conflict naming the item).
   */
  writeObjects(objects) {
    return this.request('PUT', '/v1/storage', { body: { objects } });
  }

  /** POST /v1/storage/read {ids}: [{collection, key, owner_id?}] (no owner_id: mine; null: the server's) -> {objects} */
  readObjects(ids) {
    return this.request('POST', '/v1/storage/read', { body: { ids } });
  }

  /** GET /v1/storage/{collection}?owner_id=&limit=&cursor= -> {objects, cursor}; ownerId: a player id or 'server' */
  listObjects(collection, { ownerId, limit, cursor } = {}) {
    return this.request('GET', `/v1/storage/${seg(collection)}`, { query: { owner_id: ownerId, limit, cursor } });
  }

  /** POST /v1/storage/delete {ids}: [{collection, key, version?}], all or nothing -> {deleted} */
  deleteObjects(ids) {
    return this.request('POST', '/v1/storage/delete', { body: { ids } });
  }

  // ---- chat and presence

  /** GET /v1/chat/{channel_id}/messages?limit=&before= -> {channel_id, messages, next_cursor}, newest first. */
  chatHistory(channelId, { limit, before } = {}) {
    return this.request('GET', `/v1/chat/${seg(channelId)}/messages`, { query: { limit, before } });
  }

  /** GET /v1/presence?ids=a,b (up to 25) -> {presences: [{player_id, status, metadata?}]} */
  getPresence(ids) {
    return this.request('GET', '/v1/presence', { query: { ids: [].concat(ids) } });
  }

  // ---- leaderboards (docs/LEADERBOARDS.md)

  /** GET /v1/leaderboards -> {leaderboards} */
  listLeaderboards() {
    return this.request('GET', '/v1/leaderboards');
  }

  /**
   * GET /v1/leaderboards/{id}?limit=&cursor= -> {leaderboard, next_reset, records, next_cursor};
   * with {period}: a closed period from the archive (paged by offset).
   */
  leaderboardTop(id, { limit, cursor, period, offset } = {}) {
    return this.request('GET', `/v1/leaderboards/${seg(id)}`, { query: { limit, cursor, period, offset } });
  }

  /** GET /v1/leaderboards/{id}/around/{owner_id}?n= -> {..., records, owner_rank}: the owner ± n (0..50, 25). */
  leaderboardAround(id, ownerId, { n } = {}) {
    return this.request('GET', `/v1/leaderboards/${seg(id)}/around/${seg(ownerId)}`, { query: { n } });
  }

  /** GET /v1/leaderboards/{id}/records?owner_ids= (1..100) -> {..., records}: e.g. your friends' records, best first. */
  leaderboardRecords(id, ownerIds) {
    return this.request('GET', `/v1/leaderboards/${seg(id)}/records`, { query: { owner_ids: [].concat(ownerIds) } });
  }

  /** GET /v1/leaderboards/{id}/records/{owner_id} -> {..., record} (404 without a record this period). */
  leaderboardRank(id, ownerId) {
    return this.request('GET', `/v1/leaderboards/${seg(id)}/records/${seg(ownerId)}`);
  }

  /** POST /v1/leaderboards/{id}/records {score, subscore?, metadata?} -> {..., record}: your own score, where the board allows it. */
  submitScore(id, score, { subscore, metadata } = {}) {
    const body = { score };
    if (subscore !== undefined) body.subscore = subscore;
    if (metadata !== undefined) body.metadata = metadata;
    return this.request('POST', `/v1/leaderboards/${seg(id)}/records`, { body });
  }

  // ---- server

  /** GET /healthz -> {status, database, sessions} (rejects with `unavailable` when not ready). */
  health() {
    return this.request('GET', '/healthz', { auth: 'none' });
  }

  /** A real-time Socket for this client's player (see Socket for the options). */
  socket(options = {}) {
    return new Socket(this, options);
  }
}

// ------------------------------------------------------------------------------------------
// Socket (WebSocket /ws)

const OPEN = 1;

// Close codes after which reconnecting would be wrong.
const TERMINAL_CLOSE = new Set([
  4001, // kicked by an administrator
  4002, // account deleted
  4003, // account banned
  4004, // session revoked (sign out everywhere): sign in again
]);

/** Server message types with a named event method (see Socket#on for any other type). */
export const ServerEvents = Object.freeze({
  onMatchState: 'match.state',
  onMatchStarted: 'match.started',
  onMatchFinished: 'match.finished',
  onMatchMessage: 'match.message',
  onMatchLeft: 'match.left',
  onVoteStart: 'match.vote_start',
  onVoteTally: 'match.vote_tally',
  onVoteResult: 'match.vote_result',
  onVoteVetoed: 'match.vote_vetoed',
  onMatchmakerMatched: 'matchmaker.matched',
  onMatchmakerRemoved: 'matchmaker.removed',
  onChatMessage: 'chat.message',
  onPresenceChanged: 'presence.changed',
  onNotification: 'notification.new',
});

/**
 * The real-time connection of one player. Options:
 *   WebSocket          implementation (default: the client's, else the global one)
 *   url                default: client.wsUrl
 *   requestTimeoutMs   reply deadline of request() (10000)
 *   connectTimeoutMs   WebSocket open + session.connect deadline (10000)
 *   heartbeatMs        session.heartbeat interval (15000; 0 = off); a heartbeat without a reply
 *                      within heartbeatTimeoutMs (max(heartbeatMs, 5000)) drops the connection
 *   reconnect          false, or {minDelayMs: 500, maxDelayMs: 15000, factor: 2, jitter: 0.2,
 *                      maxAttempts: Infinity}
 *   rejoin             true: after a reconnect, join the match and chat channels again and
 *                      resubmit matchmaker tickets
 */
export class Socket {
  constructor(client, options = {}) {
    if (!(client instanceof Client)) throw new TypeError('new Socket(client, options): client must be a Client');
    this.client = client;
    this.url = options.url || client.wsUrl;
    this.WebSocket = options.WebSocket || client.WebSocket;
    if (typeof this.WebSocket !== 'function') {
      throw new TypeError("no WebSocket implementation: pass {WebSocket} (in Node.js: import WebSocket from 'ws')");
    }
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10000;
    this.heartbeatMs = options.heartbeatMs ?? 15000;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? Math.max(this.heartbeatMs, 5000);
    this.reconnectOptions =
      options.reconnect === false ? null : { minDelayMs: 500, maxDelayMs: 15000, factor: 2, jitter: 0.2, maxAttempts: Infinity, ...(options.reconnect || {}) };
    this.rejoin = options.rejoin ?? true;

    /** 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed' */
    this.state = 'idle';
    this.playerId = null;
    /** Round trip of the last heartbeat, ms. */
    this.latencyMs = null;
    /** Offset to add to Date.now() for the server's clock (from heartbeats), ms. */
    this.serverTimeOffsetMs = 0;
    /** The match this player is in: {match_id, mode, metadata} or null. */
    this.match = null;
    /** Joined chat channels. */
    this.channels = new Set();
    /** Waiting matchmaker tickets: ticket_id -> {mode, properties}. */
    this.tickets = new Map();

    this._ws = null;
    this._pending = new Map();
    this._cidSeq = 0;
    this._cidPrefix = Math.random().toString(36).slice(2, 8);
    this._events = new Emitter();
    this._hbTimer = null;
    this._closedByUser = false;
    this._reconnecting = null;
    this._abort = null;
    /** match.* messages since the last joinMatch(), not yet taken by nextMatchEvent(). */
    this._matchBuf = [];
    this._matchBufMax = options.matchEventBuffer ?? 1000;
    this._matchWaiters = new Set();
    this._matchHandlersOff = null;
    this._matchHandlersMatch = null;
    /** Cluster: the socket to the node hosting the match (after a match.redirect), or null. */
    this._matchSocket = null;
    this._parent = null;
  }

  get connected() {
    return this.state === 'open';
  }

  // ---- connection

  /**
   * Opens the WebSocket and authenticates with the client's session token (refreshing it when
   * needed). Resolves with the session.connected payload {player_id}.
   */
  async connect() {
    if (this.state === 'open') return { player_id: this.playerId };
    if (this.state === 'connecting' && this._connecting) return this._connecting;
    if (this.state === 'reconnecting' && this._reconnecting) {
      await this._reconnecting;
      if (this.state === 'open') return { player_id: this.playerId };
    }
    this._closedByUser = false;
    this._abort = typeof AbortController === 'function' ? new AbortController() : null;
    this.state = 'connecting';
    this._connecting = this._open().then(
      (r) => {
        this._connecting = null;
        return r;
      },
      (err) => {
        this._connecting = null;
        if (this.state === 'connecting') this.state = 'idle';
        throw err;
      }
    );
    return this._connecting;
  }

  /** Closes the connection for good (no reconnect). Pending requests reject with `disconnected`. */
  close(code = 1000, reason = 'client closed') {
    this._closedByUser = true;
    this._closeMatchSocket();
    if (this._abort) this._abort.abort();
    const ws = this._ws;
    const wasOpen = this.state === 'open' || this.state === 'reconnecting';
    this.state = 'closed';
    this._stopHeartbeat();
    if (ws) {
      this._detach(ws);
      try {
        ws.close(code, reason);
      } catch {
        /* already closing */
      }
    }
    this._failPending('socket closed by the client');
    if (wasOpen) this._events.emit('disconnect', { code, reason, willReconnect: false, byClient: true });
  }

  async _open() {
    let token = await this.client.validToken();
    const ws = await this._dial();
    let reply;
    try {
      try {
        reply = await this._request('session.connect', { token }, { timeoutMs: this.connectTimeoutMs, beforeAuth: true });
      } catch (err) {
        if (err.code !== 'unauthorized' || !this.client.autoRefresh || !this.client._canRenew()) throw err;
        token = await this.client.validToken({ force: true });
        reply = await this._request('session.connect', { token }, { timeoutMs: this.connectTimeoutMs, beforeAuth: true });
      }
    } catch (err) {
      if (this._ws === ws) {
        this._detach(ws);
        this._ws = null;
        try {
          ws.close(1000, 'session.connect failed');
        } catch {
          /* gone */
        }
      }
      throw err;
    }
    if (this._closedByUser) throw new MoonbaseError('disconnected', 'socket closed by the client');
    this.playerId = reply.player_id;
    this.state = 'open';
    this._startHeartbeat();
    return reply;
  }

  _dial() {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new this.WebSocket(this.url);
      } catch (err) {
        reject(new MoonbaseError('network', `WebSocket ${this.url}: ${err.message}`, { cause: err }));
        return;
      }
      const timer = setTimeout(() => fail(new MoonbaseError('timeout', `WebSocket ${this.url}: not open within ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
      const fail = (err) => {
        clearTimeout(timer);
        ws.onopen = ws.onerror = ws.onclose = ws.onmessage = null;
        try {
          ws.close();
        } catch {
          /* never opened */
        }
        reject(err);
      };
      ws.onopen = () => {
        clearTimeout(timer);
        if (this._closedByUser) {
          fail(new MoonbaseError('disconnected', 'socket closed by the client'));
          return;
        }
        this._attach(ws);
        resolve(ws);
      };
      ws.onerror = (ev) => fail(new MoonbaseError('network', `WebSocket ${this.url}: ${(ev && ev.message) || 'connection failed'}`));
      ws.onclose = (ev) => fail(new MoonbaseError('network', `WebSocket ${this.url}: closed before open (${ev && ev.code})`));
    });
  }

  _attach(ws) {
    this._ws = ws;
    ws.onmessage = (ev) => this._onFrame(ev.data);
    ws.onerror = () => {
      /* 'close' follows */
    };
    ws.onclose = (ev) => this._onClose(ws, ev ? ev.code : 1006, ev ? ev.reason : '');
  }

  _detach(ws) {
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
  }

  _onClose(ws, code, reason) {
    if (ws !== this._ws) return;
    this._detach(ws);
    this._ws = null;
    this._stopHeartbeat();
    const wasOpen = this.state === 'open';
    this._failPending(`socket closed (code ${code}${reason ? `, ${reason}` : ''})`);
    if (this._closedByUser || this.state === 'closed') return;
    if (!wasOpen) return; // a failed connect: connect()/the reconnect loop reports it
    const willReconnect = !!this.reconnectOptions && !TERMINAL_CLOSE.has(code);
    this.state = willReconnect ? 'reconnecting' : 'closed';
    this._events.emit('disconnect', { code, reason, willReconnect, byClient: false });
    if (willReconnect) this._startReconnect();
  }

  /** Drops a connection that stopped answering (no close handshake to wait for). */
  _drop(code, reason) {
    const ws = this._ws;
    if (!ws) return;
    try {
      ws.close(4000, reason);
    } catch {
      /* already closing */
    }
    this._onClose(ws, code, reason);
  }

  _failPending(why) {
    const pending = [...this._pending.values()];
    this._pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(new MoonbaseError('disconnected', `${p.type}: ${why}`, { requestType: p.type, cid: p.cid }));
    }
  }

  _startReconnect() {
    if (this._reconnecting) return;
    this._reconnecting = this._reconnectLoop().finally(() => {
      this._reconnecting = null;
    });
  }

  async _reconnectLoop() {
    const o = this.reconnectOptions;
    for (let attempt = 1; !this._closedByUser; attempt++) {
      if (attempt > o.maxAttempts) {
        this.state = 'closed';
        this._events.emit('error', new MoonbaseError('disconnected', `gave up reconnecting after ${o.maxAttempts} attempts`));
        this._events.emit('disconnect', { code: 1006, reason: 'reconnect attempts exhausted', willReconnect: false, byClient: false });
        return;
      }
      const base = Math.min(o.maxDelayMs, o.minDelayMs * Math.pow(o.factor, attempt - 1));
      const delay = Math.max(0, base * (1 + o.jitter * (Math.random() * 2 - 1)));
      await sleep(delay, this._abort ? this._abort.signal : undefined);
      if (this._closedByUser) return;
      try {
        await this._open();
      } catch (err) {
        if (this._closedByUser) return;
        if (err.code === 'unauthorized' || err.code === 'forbidden') {
          // The credentials are gone for good: retrying cannot help.
          this.state = 'closed';
          this._events.emit('error', err);
          this._events.emit('disconnect', { code: 1008, reason: err.message, willReconnect: false, byClient: false });
          return;
        }
        this.state = 'reconnecting';
        continue;
      }
      const restored = this.rejoin ? await this._restore() : { match: null, channels: [], tickets: [] };
      this._events.emit('reconnect', { attempt, ...restored });
      return;
    }
  }

  /** After a reconnect: the match, chat channels and tickets the player had. */
  async _restore() {
    const out = { match: null, channels: [], tickets: [] };
    if (this.match) {
      const { match_id, metadata } = this.match;
      try {
        const joined = await this._join(match_id, metadata, { rejoin: true });
        out.match = { match_id, ok: true, joined };
      } catch (err) {
        this.match = null;
        out.match = { match_id, ok: false, error: err };
      }
    }
    for (const channel_id of [...this.channels]) {
      try {
        await this.joinChat(channel_id);
        out.channels.push({ channel_id, ok: true });
      } catch (err) {
        this.channels.delete(channel_id);
        out.channels.push({ channel_id, ok: false, error: err });
      }
    }
    const tickets = [...this.tickets.entries()];
    this.tickets.clear(); // the server dropped them with the old connection
    for (const [old_ticket_id, t] of tickets) {
      try {
        const r = await this.addTicket(t.mode, t.properties);
        out.tickets.push({ old_ticket_id, ticket_id: r.ticket_id, mode: t.mode, ok: true });
      } catch (err) {
        out.tickets.push({ old_ticket_id, mode: t.mode, ok: false, error: err });
      }
    }
    return out;
  }

  // ---- heartbeats

  _startHeartbeat() {
    this._stopHeartbeat();
    if (!(this.heartbeatMs > 0)) return;
    this._hbTimer = setInterval(() => {
      this.heartbeat().catch((err) => {
        if (err.code === 'timeout') this._drop(4000, 'heartbeat timeout');
      });
    }, this.heartbeatMs);
    if (typeof this._hbTimer === 'object' && this._hbTimer && typeof this._hbTimer.unref === 'function') this._hbTimer.unref();
  }

  _stopHeartbeat() {
    if (this._hbTimer) clearInterval(this._hbTimer);
    this._hbTimer = null;
  }

  /** Sends session.heartbeat now; resolves {server_time} and updates latencyMs. */
  async heartbeat() {
    const t0 = Date.now();
    const reply = await this.request('session.heartbeat', {}, { timeoutMs: this.heartbeatTimeoutMs });
    const t1 = Date.now();
    this.latencyMs = t1 - t0;
    if (typeof reply.server_time === 'number') this.serverTimeOffsetMs = reply.server_time - (t0 + t1) / 2;
    return reply;
  }

  // ---- messages

  _onFrame(data) {
    let msg;
    try {
      msg = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data));
    } catch (err) {
      this._events.emit('error', new MoonbaseError('bad_request', 'the server sent a frame that is not JSON', { cause: err }));
      return;
    }
    if (!msg || typeof msg.type !== 'string') return;
    const { cid, type } = msg;
    const payload = msg.payload ?? {};
    const pending = cid != null ? this._pending.get(cid) : undefined;
    if (pending) {
      this._pending.delete(cid);
      clearTimeout(pending.timer);
      if (type === 'error') pending.reject(MoonbaseError.fromPayload(payload, cid));
      else pending.resolve(pending.raw ? msg : payload);
      // The sender's copy of its chat message is also a chat.message for listeners.
      if (type === 'chat.message') this._dispatch(type, payload, msg);
      return;
    }
    if (type === 'error') {
      this._events.emit('error', MoonbaseError.fromPayload(payload, cid));
      return;
    }
    this._deliver(type, payload, msg);
  }

  /** A server message that is not a reply: track, buffer match events, call the listeners. */
  _deliver(type, payload, msg) {
    this._track(type, payload);
    if (type.startsWith('match.')) this._bufferMatchEvent({ type, payload });
    this._dispatch(type, payload, msg);
    // joinMatch's `on` handlers end with their match (after they saw its last message)
    if ((type === 'match.finished' || type === 'match.left') && this._matchHandlersOff && this._matchHandlersMatch === payload.match_id) {
      this._matchHandlersOff();
    }
  }

  _track(type, p) {
    switch (type) {
      case 'match.finished':
      case 'match.left':
        if (this.match && this.match.match_id === p.match_id) this.match = null;
        break;
      case 'matchmaker.matched':
      case 'matchmaker.removed':
        this.tickets.delete(p.ticket_id);
        break;
      case 'chat.left':
        this.channels.delete(p.channel_id);
        break;
      default:
    }
  }

  _dispatch(type, payload, msg) {
    this._events.emit(type, payload, msg);
    this._events.emit('*', msg);
  }

  _request(type, payload, { timeoutMs, raw = false, beforeAuth = false } = {}) {
    const ws = this._ws;
    if (!ws || ws.readyState !== OPEN || (!beforeAuth && this.state !== 'open')) {
      return Promise.reject(new MoonbaseError('disconnected', `${type}: the socket is not connected`, { requestType: type }));
    }
    const cid = `${this._cidPrefix}-${++this._cidSeq}`;
    const ms = timeoutMs ?? this.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      const entry = { type, cid, resolve, reject, raw, timer: null };
      entry.timer = setTimeout(() => {
        this._pending.delete(cid);
        reject(new MoonbaseError('timeout', `${type}: no reply within ${ms} ms`, { requestType: type, cid }));
      }, ms);
      this._pending.set(cid, entry);
      try {
        ws.send(JSON.stringify({ cid, type, payload }));
      } catch (err) {
        clearTimeout(entry.timer);
        this._pending.delete(cid);
        reject(new MoonbaseError('disconnected', `${type}: ${err.message}`, { requestType: type, cid, cause: err }));
      }
    });
  }

  /**
   * Sends {cid, type, payload} and resolves with the payload of the reply that carries the same
   * cid (the whole envelope with {raw: true}). Rejects with a MoonbaseError: the server's
   * `error` (code, reason, requestType), `timeout` after timeoutMs, or `disconnected`.
   */
  request(type, payload = {}, options = {}) {
    return this._request(type, payload, options);
  }

  /** Sends a message without a cid (no reply; a failure arrives as an `error` event). False when not connected. */
  send(type, payload = {}) {
    const ws = this._ws;
    if (!ws || ws.readyState !== OPEN || this.state !== 'open') return false;
    ws.send(JSON.stringify({ type, payload }));
    return true;
  }

  // ---- helpers: matches

  /**
   * match.join -> {match_id, mode, players, state}; remembered for rejoining after a reconnect.
   * Nothing the match sends can be missed, even what arrives together with the reply:
   *  - `on`: handlers by message type ({'match.started': fn, 'match.state': fn, ...}) are set up
   *    before match.join is sent and removed when this match finishes, is left, or another
   *    joinMatch() replaces them;
   *  - every `match.*` message from here on is also buffered for nextMatchEvent().
   */
  async joinMatch(matchId, metadata, { on } = {}) {
    return this._join(matchId, metadata, { on });
  }

  async _join(matchId, metadata, { on, rejoin = false } = {}) {
    const payload = { match_id: matchId };
    if (metadata !== undefined) payload.metadata = metadata;
    if (!rejoin) {
      this._matchBuf = [];
      if (this._matchHandlersOff) this._matchHandlersOff();
      if (on) {
        const offs = Object.entries(on).map(([type, fn]) => this._events.on(type, fn));
        this._matchHandlersMatch = matchId;
        this._matchHandlersOff = () => {
          for (const off of offs) off();
          this._matchHandlersOff = null;
        };
      }
    }
    let joined;
    try {
      const reply = await this.request('match.join', payload, { raw: true });
      if (reply.type === 'match.redirect' && !this._parent) {
        joined = await this._joinOnNode(reply.payload, matchId, metadata);
      } else if (reply.type === 'match.redirect') {
        throw new MoonbaseError('unavailable', `match.join: redirected again (to ${reply.payload.node_id})`, { requestType: 'match.join' });
      } else {
        joined = reply.payload ?? {};
        this._closeMatchSocket();
      }
    } catch (err) {
      if (on && this._matchHandlersOff) this._matchHandlersOff();
      throw err;
    }
    this.match = { match_id: joined.match_id, mode: joined.mode, metadata };
    if (this._matchSocket) this.match.node = { node_id: this._matchSocket.nodeId, url: this._matchSocket.url };
    return joined;
  }

  /**
   * Cluster (docs/CLUSTER.md): the match lives on another node (match.redirect {match_id,
   * node_id, url}). Opens a second socket to that node with the same session, joins there, and
   * passes that socket's match.* messages on to this socket's listeners; chat, presence and
   * notifications stay on this socket. sendInput() and leaveMatch() go to the match's socket.
   */
  async _joinOnNode(redirect, matchId, metadata) {
    const url = String(redirect.url).replace(/^http/i, 'ws').replace(/\/+$/, '') + '/ws';
    let ms = this._matchSocket;
    if (!ms || ms.url !== url) {
      this._closeMatchSocket();
      ms = new Socket(this.client, {
        url,
        WebSocket: this.WebSocket,
        requestTimeoutMs: this.requestTimeoutMs,
        connectTimeoutMs: this.connectTimeoutMs,
        heartbeatMs: this.heartbeatMs,
        reconnect: this.reconnectOptions ? { ...this.reconnectOptions } : false,
        rejoin: this.rejoin,
      });
      ms._parent = this;
      ms.nodeId = redirect.node_id;
      // match.* messages of the match socket reach this socket's listeners and buffer
      const matchChat = (type, payload) => type === 'chat.message' && String(payload.channel_id).startsWith('match:');
      ms._deliver = (type, payload, msg) => {
        ms._track(type, payload);
        if (type.startsWith('match.') || matchChat(type, payload)) this._deliver(type, payload, msg);
      };
      // the sender's own copy of a match chat message (a reply there) reaches the listeners here
      ms._dispatch = (type, payload, msg) => {
        if (matchChat(type, payload)) this._dispatch(type, payload, msg);
      };
      this._matchSocket = ms;
      try {
        await ms.connect();
      } catch (err) {
        this._closeMatchSocket(); // the next join tries again from scratch
        throw err;
      }
    }
    return ms._join(matchId, metadata, { rejoin: true });
  }

  _closeMatchSocket() {
    const ms = this._matchSocket;
    this._matchSocket = null;
    if (ms) ms.close(1000, 'match socket no longer needed');
  }

  /**
   * Resolves with the payload of the first `type` message (e.g. 'match.started', 'match.state',
   * 'match.vote_start') of the match joined last that no earlier nextMatchEvent() took, including
   * one that arrived before this call (buffered since joinMatch(); at most `matchEventBuffer`
   * messages, 1000 by default, the oldest dropped first). Rejects with `timeout` after timeoutMs.
   */
  nextMatchEvent(type, { timeoutMs = this.requestTimeoutMs, filter } = {}) {
    const match = (m) => m.type === type && (!filter || filter(m.payload));
    const i = this._matchBuf.findIndex(match);
    if (i >= 0) return Promise.resolve(this._matchBuf.splice(i, 1)[0].payload);
    return new Promise((resolve, reject) => {
      const w = { match, resolve, timer: null };
      w.timer = setTimeout(() => {
        this._matchWaiters.delete(w);
        reject(new MoonbaseError('timeout', `no ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this._matchWaiters.add(w);
    });
  }

  /** A match.* message: to the first waiting nextMatchEvent() it fits, else to the buffer. */
  _bufferMatchEvent(msg) {
    for (const w of this._matchWaiters) {
      if (w.match(msg)) {
        this._matchWaiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(msg.payload);
        return;
      }
    }
    this._matchBuf.push(msg);
    if (this._matchBuf.length > this._matchBufMax) this._matchBuf.shift();
  }

  /**
   * match.input. By default fire-and-forget (returns false when not connected); with
   * {ack: true} resolves with match.input_ack {match_id, tick}.
   */
  sendInput(input, { ack = false } = {}) {
    const to = this._matchSocket || this; // cluster: the match's node
    if (ack) return to.request('match.input', input);
    return to.send('match.input', input);
  }

  /** match.leave -> match.left {match_id, reason} */
  async leaveMatch() {
    const left = await (this._matchSocket || this).request('match.leave', {});
    this._closeMatchSocket();
    this.match = null;
    if (this._matchHandlersOff) this._matchHandlersOff();
    return left;
  }

  // ---- helpers: matchmaker

  /** matchmaker.add -> matchmaker.ticket {ticket_id, mode} */
  async addTicket(mode, properties = {}) {
    const t = await this.request('matchmaker.add', { mode, properties });
    this.tickets.set(t.ticket_id, { mode, properties });
    return t;
  }

  /** matchmaker.remove -> matchmaker.removed {ticket_id, reason} */
  async removeTicket(ticketId) {
    const r = await this.request('matchmaker.remove', { ticket_id: ticketId });
    this.tickets.delete(ticketId);
    return r;
  }

  // ---- helpers: chat and presence

  /** chat.join -> chat.joined {channel_id, members}; rejoined after a reconnect. */
  async joinChat(channelId) {
    const ms = this._matchChat(channelId);
    if (ms) return ms.joinChat(channelId);
    const r = await this.request('chat.join', { channel_id: channelId });
    this.channels.add(channelId);
    return r;
  }

  /** chat.leave -> chat.left {channel_id} */
  async leaveChat(channelId) {
    const ms = this._matchChat(channelId);
    if (ms) return ms.leaveChat(channelId);
    const r = await this.request('chat.leave', { channel_id: channelId });
    this.channels.delete(channelId);
    return r;
  }

  /** chat.send -> the stored chat.message {channel_id, message_id, sender_id, content, sent_at}. */
  sendChat(channelId, content) {
    return (this._matchChat(channelId) || this).request('chat.send', { channel_id: channelId, content });
  }

  /** Cluster: a match:<id> channel goes through the socket of the match's node (if any). */
  _matchChat(channelId) {
    return this._matchSocket && String(channelId).startsWith('match:') ? this._matchSocket : null;
  }

  /** presence.update {status, metadata?} -> presence.updated */
  updatePresence(status, metadata) {
    const payload = { status };
    if (metadata !== undefined) payload.metadata = metadata;
    return this.request('presence.update', payload);
  }

  // ---- helpers: votes

  /** vote.cast -> vote.accepted {vote_id, total_votes}. optionId: an id, or a list (approval, ranked). */
  castVote(voteId, optionId) {
    return this.request('vote.cast', { vote_id: voteId, option_id: optionId });
  }

  /** vote.veto -> vote.veto_accepted {vote_id, tokens_left} */
  veto(voteId) {
    return this.request('vote.veto', { vote_id: voteId });
  }

  // ---- events

  /**
   * Listens to a server message type ('match.state', ...; '*' for every message) or to
   * 'error', 'disconnect', 'reconnect'. fn(payload, envelope). Returns the unsubscribe function.
   */
  on(type, fn) {
    return this._events.on(type, fn);
  }

  /** Like on(), for the next event only. */
  once(type, fn) {
    return this._events.once(type, fn);
  }

  /** Resolves with the payload of the next `type` event (matching `filter`), or rejects on timeout. */
  next(type, { timeoutMs = this.requestTimeoutMs, filter } = {}) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new MoonbaseError('timeout', `no ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this._events.on(type, (payload) => {
        if (filter && !filter(payload)) return;
        clearTimeout(timer);
        off();
        resolve(payload);
      });
    });
  }

  onMatchState(fn) { return this.on('match.state', fn); }
  onMatchStarted(fn) { return this.on('match.started', fn); }
  onMatchFinished(fn) { return this.on('match.finished', fn); }
  onMatchMessage(fn) { return this.on('match.message', fn); }
  onMatchLeft(fn) { return this.on('match.left', fn); }
  onVoteStart(fn) { return this.on('match.vote_start', fn); }
  onVoteTally(fn) { return this.on('match.vote_tally', fn); }
  onVoteResult(fn) { return this.on('match.vote_result', fn); }
  onVoteVetoed(fn) { return this.on('match.vote_vetoed', fn); }
  onMatchmakerMatched(fn) { return this.on('matchmaker.matched', fn); }
  onMatchmakerRemoved(fn) { return this.on('matchmaker.removed', fn); }
  onChatMessage(fn) { return this.on('chat.message', fn); }
  onPresenceChanged(fn) { return this.on('presence.changed', fn); }
  onNotification(fn) { return this.on('notification.new', fn); }
  /** fn(MoonbaseError): `error` messages that answer no request, and connection problems. */
  onError(fn) { return this.on('error', fn); }
  /** fn({code, reason, willReconnect, byClient}) */
  onDisconnect(fn) { return this.on('disconnect', fn); }
  /** fn({attempt, match, channels, tickets}): connected again; what was rejoined. */
  onReconnect(fn) { return this.on('reconnect', fn); }
}

// ------------------------------------------------------------------------------------------
// AdminClient (/v1/admin/*)

/** The admin REST API with the admin token (Authorization: Bearer <token>). Options: fetch, timeoutMs. */
export class AdminClient {
  constructor(baseUrl, adminToken, options = {}) {
    this.baseUrl = String(baseUrl || defaultBaseUrl()).replace(/\/+$/, '');
    this.adminToken = adminToken;
    const f = options.fetch || globalThis.fetch;
    if (typeof f !== 'function') throw new TypeError('no fetch implementation: pass {fetch}');
    this.fetch = options.fetch ? f : f.bind(globalThis);
    this.timeoutMs = options.timeoutMs ?? 10000;
  }

  request(method, path, { body, query: q, timeoutMs } = {}) {
    return httpJson(this.fetch, this.baseUrl + path + query(q), {
      method,
      body,
      headers: { authorization: `Bearer ${this.adminToken}` },
      timeoutMs: timeoutMs ?? this.timeoutMs,
    });
  }

  /** GET /v1/admin/overview: sessions, matches, messages per second, database. */
  overview() { return this.request('GET', '/v1/admin/overview'); }
  /** GET /v1/cluster: {node_id, cluster, redis?, nodes: [{node_id, url, started_at, last_seen, sessions, matches}]} */
  cluster() { return this.request('GET', '/v1/cluster'); }
  /** GET /v1/admin/players?q=&limit=: online players matching a username prefix or an id. */
  players({ q, limit } = {}) { return this.request('GET', '/v1/admin/players', { query: { q, limit } }); }
  /** GET /v1/admin/players/{id} */
  player(playerId) { return this.request('GET', `/v1/admin/players/${seg(playerId)}`); }
  /** POST /v1/admin/players/{id}/kick: closes every socket of the player. */
  kickPlayer(playerId) { return this.request('POST', `/v1/admin/players/${seg(playerId)}/kick`); }
  /** GET /v1/admin/matches: live matches. */
  matches() { return this.request('GET', '/v1/admin/matches'); }
  /** GET /v1/admin/matches/{id}: a live match with its current get_state (`state`). */
  match(matchId) { return this.request('GET', `/v1/admin/matches/${seg(matchId)}`); }
  /** POST /v1/admin/matches/{id}/end */
  endMatch(matchId) { return this.request('POST', `/v1/admin/matches/${seg(matchId)}/end`); }
  /** GET /v1/admin/matchmaker: tickets and waits per mode. */
  matchmaker() { return this.request('GET', '/v1/admin/matchmaker'); }
  /** GET /v1/admin/scripts: loaded versions and the last reload error per mode, and server.lua. */
  scripts() { return this.request('GET', '/v1/admin/scripts'); }
  /** POST /v1/admin/scripts/reload: reloads every script; resolves with scripts(). */
  reloadScripts() { return this.request('POST', '/v1/admin/scripts/reload'); }
  /**
   * GET /v1/admin/chat/channels: live channels (at least one member), most members first, at most
   * 500 -> {channels: [{channel_id, kind: 'room'|'match'|'dm', members, sockets, match_id?, player_ids?}], total}
   */
  chatChannels() { return this.request('GET', '/v1/admin/chat/channels'); }
  /**
   * GET /v1/admin/chat/{channel_id}/messages?limit=&before=: any channel's recent messages, newest
   * first, by its storage key (rooms, match:<id>, dm:<player_id>:<player_id>); limit 1..100 (50).
   * Messages carry sender_username (null for a deleted account).
   */
  chatMessages(channelId, { limit, before } = {}) {
    return this.request('GET', `/v1/admin/chat/${seg(channelId)}/messages`, { query: { limit, before } });
  }
  /** GET /v1/admin/storage -> {collections: [{collection, count}]} */
  storageCollections() { return this.request('GET', '/v1/admin/storage'); }
  /** GET /v1/admin/storage/{collection}?owner_id=&limit=&cursor=: every owner's objects (or ownerId's: an id or 'server') */
  listStorage(collection, { ownerId, limit, cursor } = {}) {
    return this.request('GET', `/v1/admin/storage/${seg(collection)}`, { query: { owner_id: ownerId, limit, cursor } });
  }
  /** GET /v1/admin/storage/{collection}/{key}?owner_id= -> {objects: [object] or []}; no ownerId: the server's */
  getStorageObject(collection, key, { ownerId } = {}) {
    return this.request('GET', `/v1/admin/storage/${seg(collection)}/${seg(key)}`, { query: { owner_id: ownerId } });
  }
  /** PUT /v1/admin/storage/{collection}/{key}?owner_id= {value, version?, permission_read?, permission_write?} -> {objects: [ack]} */
  putStorageObject(collection, key, body, { ownerId } = {}) {
    return this.request('PUT', `/v1/admin/storage/${seg(collection)}/${seg(key)}`, { body, query: { owner_id: ownerId } });
  }
  /** DELETE /v1/admin/storage/{collection}/{key}?owner_id=&version= -> {deleted} */
  deleteStorageObject(collection, key, { ownerId, version } = {}) {
    return this.request('DELETE', `/v1/admin/storage/${seg(collection)}/${seg(key)}`, { query: { owner_id: ownerId, version } });
  }
  /** POST /v1/admin/notifications: stores a notification and delivers it live (notification.new). */
  notify(playerId, type, subject, content) {
    const body = { player_id: playerId, type, subject };
    if (content !== undefined) body.content = content;
    return this.request('POST', '/v1/admin/notifications', { body });
  }
  /** GET /v1/admin/leaderboards */
  leaderboards() { return this.request('GET', '/v1/admin/leaderboards'); }
  /** POST /v1/admin/leaderboards {id, sort?, operator?, reset?, client_submit?, metadata?} -> {created, leaderboard} (idempotent) */
  createLeaderboard(def) { return this.request('POST', '/v1/admin/leaderboards', { body: def }); }
  /** GET /v1/admin/leaderboards/{id}?limit=&cursor= */
  leaderboard(id, { limit, cursor } = {}) {
    return this.request('GET', `/v1/admin/leaderboards/${seg(id)}`, { query: { limit, cursor } });
  }
  /** GET /v1/admin/leaderboards/{id}/around/{owner_id}?n=: a player's position. */
  leaderboardAround(id, ownerId, { n } = {}) {
    return this.request('GET', `/v1/admin/leaderboards/${seg(id)}/around/${seg(ownerId)}`, { query: { n } });
  }
  /** POST /v1/admin/leaderboards/{id}/records {owner_id, score, subscore?, username?, metadata?}: authoritative submit. */
  submitScore(id, ownerId, score, { subscore, username, metadata } = {}) {
    const body = { owner_id: ownerId, score };
    if (subscore !== undefined) body.subscore = subscore;
    if (username !== undefined) body.username = username;
    if (metadata !== undefined) body.metadata = metadata;
    return this.request('POST', `/v1/admin/leaderboards/${seg(id)}/records`, { body });
  }
  /** POST /v1/admin/leaderboards/{id}/reset: archives the current period now. */
  resetLeaderboard(id) { return this.request('POST', `/v1/admin/leaderboards/${seg(id)}/reset`); }
}
