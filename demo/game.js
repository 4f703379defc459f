// The demo's game flow, built only on the SDK (/sdk/moonbase-client.js, served from sdk/js/src). One DemoPlayer per player:
// the human in the page, and the optional bot (bot.js) use the same class.
//
// Phases: 'connecting' -> 'lobby' -> 'searching' (matchmaker ticket for arena) -> 'playing'
// (a round of the arena match) -> 'voting' (the same match, between rounds: the players vote on
// the next round's map) -> 'playing' ... -> 'over' (the match finished) -> 'lobby' again.
//
// The vote is the arena script's own (scripts/modes/arena.lua): at the end of a round that is
// not the last it calls match:vote_start, and every player of the match receives
// match.vote_start / match.vote_tally / match.vote_result. The page only shows them and sends
// vote.cast / vote.veto; the script applies the winning map when the next round starts
// (match.message "round" {round, rounds, map}). The match chat channel stays the same all along.
import { Client } from '/sdk/moonbase-client.js';

const svg = (body, color) =>
  `<svg class="icon" viewBox="0 0 24 24" fill="${color}" aria-hidden="true">${body}</svg>`;

export const MAPS = {
  jungle: {
    label: 'Jungle Path', floor: '#12301f', grid: '#1d4a30', accent: '#4ade80',
    icon: svg('<path d="M20 3C11 3 5 8 5 15c0 1.6.4 3 1 4.2L4 21.3l1.4 1.4 2.1-2.1C8.8 21.5 10.3 22 12 22c6 0 9-6 8-19zM8.5 17.5C10 13 13 10 17 8c-3 3-5.5 6-7 10.3z"/>', '#4ade80'),
  },
  volcano: {
    label: 'Volcano Path', floor: '#331510', grid: '#55231a', accent: '#fb923c',
    icon: svg('<path d="M12 2c1 2.5 3 3.5 3 6a3 3 0 0 1-6 0c0-1 .4-1.8 1-2.5C10.2 7 11 8 12 8c0-2-1-3 0-6zM8.5 12h7L22 22H2z"/>', '#fb923c'),
  },
  caves: {
    label: 'Crystal Caves', floor: '#1a1638', grid: '#2c2660', accent: '#a78bfa',
    icon: svg('<path d="M6 3h12l4 6-10 12L2 9zm2.2 2L5.6 9h4.2l1.3-4zm5 0l1.3 4h4.2l-2.6-4zM5.8 11l5.2 6.3L9.5 11zm6.7 0L13 17.3 18.2 11z"/>', '#c4b5fd'),
  },
};

export const ARENA = { size: 100, range: 12, stepPerInput: 2.6, inputMs: 50, attackCooldownMs: 250 };
const PROPERTIES = { skill: 1000, region: 'local' };
const BACK_TO_LOBBY_MS = 3500; // the final result stays on screen this long
const ONLINE_REFRESH_MS = 2000; // how often the lobby's online count is refreshed

const ADJ = ['Nova', 'Lunar', 'Solar', 'Comet', 'Astro', 'Orbit', 'Crater', 'Nebula', 'Quasar', 'Rocket'];
const NOUN = ['Fox', 'Owl', 'Lynx', 'Otter', 'Wolf', 'Hawk', 'Panda', 'Gecko', 'Moth', 'Yak'];
export function funName() {
  const pick = (a) => a[Math.floor(Math.random() * a.length)];
  return `${pick(ADJ)}${pick(NOUN)}${10 + Math.floor(Math.random() * 90)}`;
}

/** Stable hue per player id. */
export function hueOf(id) {
  let h = 0;
  for (const c of String(id)) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h % 360;
}

const PALETTE = [222, 330, 140, 38, 190, 280, 0, 95];

export class DemoPlayer extends EventTarget {
  /**
   * options: baseUrl, deviceKey (localStorage key of the device id), storage (localStorage),
   * name (username on first sign-in), label (for logs)
   */
  constructor(options = {}) {
    super();
    this.options = options;
    this.client = new Client(options.baseUrl);
    this.socket = null;
    this.phase = 'connecting';
    this.me = null; // {player_id, username}
    this.map = 'jungle';
    this.arena = null; // {match_id, players: Map, started, time_left_ms, ...}
    this.vote = null; // {match_id, vote_id, options, tallies, result, vetoed_by, ...} while voting
    this.round = null; // {round, rounds} of the arena match
    this.online = null; // players in the lobby channel (refreshed while there)
    this.ticket = null;
    this.channel = null;
    this.local = null; // predicted own position {x, y}
    this.seq = 0;
    this.lastResult = null;
    this._lastAttack = 0;
    this._offs = [];
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  log(kind, text) {
    this._emit('log', { kind, text, at: Date.now() });
  }

  _setPhase(phase) {
    if (this.phase === phase) return;
    this.phase = phase;
    this._emit('phase', phase);
  }

  // ---- start

  async start() {
    const storage = this.options.storage || globalThis.localStorage;
    const key = this.options.deviceKey || 'moonbase.demo.device';
    let device = storage.getItem(key);
    if (!device) {
      device = `web-${crypto.randomUUID()}`;
      storage.setItem(key, device);
    }
    try {
      await this.client.authenticateDevice(device, { username: this.options.name || funName() });
    } catch (err) {
      if (err.code !== 'conflict') throw err; // that name is taken: let the server pick one
      await this.client.authenticateDevice(device);
    }
    this.me = { player_id: this.client.session.player_id, username: this.client.session.username };
    this.log('rest', `POST /v1/auth/device → signed in as ${this.me.username}`);
    this.socket = this.client.socket({ heartbeatMs: 10000 });
    this._listen();
    await this.socket.connect();
    this.log('ws', 'session.connect → session.connected');
    await this._enterChannel('lobby');
    this._setPhase('lobby');
    this.loadWins();
  }

  /** The player's wins: the storage object stats/wins that the arena mode keeps (docs/STORAGE.md). */
  async loadWins() {
    try {
      const { objects } = await this.client.readObjects([{ collection: 'stats', key: 'wins' }]);
      this.wins = objects.length ? Number(objects[0].value.wins) || 0 : 0;
      this.log('rest', `POST /v1/storage/read → ${this.wins} win${this.wins === 1 ? '' : 's'}`);
      this._emit('wins', this.wins);
    } catch (err) {
      this.log('rest', `POST /v1/storage/read failed: ${err.message}`);
    }
  }

  _listen() {
    const s = this.socket;
    s.onMatchmakerMatched((p) => this._onMatched(p));
    s.onMatchmakerRemoved((p) => {
      if (this.ticket && p.ticket_id === this.ticket.ticket_id) {
        this.ticket = null;
        this.log('ws', `matchmaker.removed (${p.reason})`);
        if (this.phase === 'searching') this._setPhase('lobby');
      }
    });
    s.onMatchStarted((p) => {
      if (this.arena && p.match_id === this.arena.match_id) {
        this.arena.started = true;
        this.log('ws', `match.started: ${p.players.length} players`);
        this._emit('arena', this.arena);
      }
    });
    s.onMatchState((st) => this._onState(st));
    s.onMatchMessage((m) => {
      if (!this.arena || m.match_id !== this.arena.match_id) return;
      if (m.subject === 'round') this._onRound(m.data);
      else if (m.subject === 'round_over') this._onRoundOver(m.data);
    });
    s.onMatchFinished((p) => this._onFinished(p));
    s.onVoteStart((v) => this._onVoteStart(v));
    s.onVoteTally((t) => {
      if (!this.vote || this.vote.vote_id !== t.vote_id) return;
      this.vote.tallies = t.tallies;
      this.vote.total_votes = t.total_votes;
      this.vote.deadline = Date.now() + t.time_remaining_ms;
      this._emit('vote', this.vote);
    });
    s.onVoteResult((r) => this._onVoteResult(r));
    s.onVoteVetoed((v) => {
      if (!this.vote || this.vote.vote_id !== v.vote_id) return;
      this.vote.vetoed_by = v.vetoed_by;
      this.vote.done = true;
      this.log('ws', `match.vote_vetoed by ${this.nameOf(v.vetoed_by)}: the map stays ${MAPS[this.map].label}`);
      this._emit('vote', this.vote);
    });
    s.onChatMessage((m) => this._emit('chat', { ...m, name: this.nameOf(m.sender_id) }));
    s.onError((e) => this.log('error', `${e.requestType || 'error'}: ${e.code} (${e.message})`));
    s.onDisconnect((d) => {
      this.log('ws', `disconnected (${d.code}${d.reason ? `, ${d.reason}` : ''})${d.willReconnect ? ': reconnecting…' : ''}`);
      this._emit('connection', { state: d.willReconnect ? 'reconnecting' : 'offline', code: d.code, reason: d.reason });
    });
    s.onReconnect((r) => {
      this.log('ws', `reconnected${r.match && r.match.ok ? ', back in the match' : ''}`);
      if (r.tickets.length && this.ticket) this.ticket = { ...this.ticket, ticket_id: r.tickets[0].ticket_id };
      this._emit('connection', { state: 'online' });
    });
  }

  /** Hue of a player: distinct colours within a match (by sorted id), stable elsewhere. */
  hueOf(id) {
    const ids = this.names ? [...this.names.keys()].sort() : [];
    const i = ids.indexOf(id);
    return i >= 0 ? PALETTE[i % PALETTE.length] : hueOf(id);
  }

  nameOf(id) {
    if (this.me && id === this.me.player_id) return this.me.username;
    const p = (this.arena && this.arena.players.get(id)) || (this.names && this.names.get(id));
    return p ? p.name || p.username : id.slice(0, 8);
  }

  // ---- chat

  async _enterChannel(channel) {
    if (this.channel === channel) return;
    const old = this.channel;
    this.channel = null;
    if (old && this.socket.channels.has(old)) await this.socket.leaveChat(old).catch(() => {});
    const joined = await this.socket.joinChat(channel);
    this.channel = channel;
    let history = [];
    try {
      history = (await this.client.chatHistory(channel, { limit: 20 })).messages.reverse();
    } catch {
      /* history is a nicety */
    }
    if (channel === 'lobby') this._setOnline(joined.members);
    this._emit('channel', { channel, members: joined.members, history: history.map((m) => ({ ...m, name: this.nameOf(m.sender_id) })) });
    if (channel === 'lobby' && !this._onlineTimer) this._onlineTimer = setInterval(() => this._refreshOnline(), ONLINE_REFRESH_MS);
  }

  _setOnline(n) {
    if (n === this.online) return;
    this.online = n;
    this._emit('online', n);
  }

  /** chat.join on a channel already joined changes nothing and answers its member count: the
   * lobby's "N online" is that count, asked again every ONLINE_REFRESH_MS while in the lobby. */
  async _refreshOnline() {
    if (this.channel !== 'lobby' || !this.socket || this.socket.state !== 'open') return;
    try {
      const r = await this.socket.joinChat('lobby');
      if (this.channel === 'lobby') this._setOnline(r.members);
    } catch {
      /* the next refresh tries again */
    }
  }

  async say(text) {
    const content = String(text || '').trim();
    if (!content || !this.channel) return;
    try {
      await this.socket.sendChat(this.channel, content);
    } catch (err) {
      this.log('error', `chat.send: ${err.code}${err.reason ? ` (${err.reason})` : ''}`);
    }
  }

  // ---- matchmaking

  async findMatch() {
    if (this.phase !== 'lobby') return;
    this._setPhase('searching');
    try {
      this.ticket = { ...(await this.socket.addTicket('arena', PROPERTIES)), since: Date.now() };
      this.log('ws', `matchmaker.add {mode: "arena", skill: ${PROPERTIES.skill}, region: "${PROPERTIES.region}"} → ticket`);
    } catch (err) {
      this.log('error', `matchmaker.add: ${err.message}`);
      this._setPhase('lobby');
    }
  }

  /** Connects again after the server closed the connection for good (e.g. a kick). */
  async reconnect() {
    await this.socket.connect();
    this._emit('connection', { state: 'online' });
    // A seat kept for us (reconnect grace) would block the next match: give it up.
    if (this.socket.match) await this.socket.leaveMatch().catch(() => {});
    this.arena = null;
    this.vote = null;
    this.round = null;
    this.ticket = null;
    this.channel = null;
    await this._enterChannel('lobby');
    this.phase = 'lobby';
    this._emit('phase', 'lobby');
  }

  async cancelSearch() {
    if (!this.ticket) return;
    const t = this.ticket;
    this.ticket = null;
    await this.socket.removeTicket(t.ticket_id).catch(() => {});
    this.log('ws', 'matchmaker.remove → matchmaker.removed');
    this._setPhase('lobby');
  }

  async _onMatched(p) {
    this.ticket = null;
    this.names = new Map(p.players.map((x) => [x.player_id, { username: x.username }]));
    this.log('ws', `matchmaker.matched: ${p.players.map((x) => x.username).join(' vs ')}`);
    try {
      const joined = await this.socket.joinMatch(p.match_id);
      this.log('ws', 'match.join → match.joined');
      this.arena = { match_id: p.match_id, players: new Map(), started: false, time_left_ms: null, hits: new Map(), roster: p.players.map((x) => x.player_id) };
      this.seq = 0;
      this.local = null;
      if (joined.state) this._applyArena(joined.state);
      this._setPhase('playing');
      this._emit('arena', this.arena);
      await this._enterChannel(`match:${p.match_id}`);
    } catch (err) {
      this.log('error', `match.join: ${err.message}`);
      this._setPhase('lobby');
    }
  }

  // ---- playing

  _onState(st) {
    if (this.arena && (this.phase === 'playing' || this.phase === 'voting') && st.players && 'time_left_ms' in st) {
      this._applyArena(st);
      if (st.map && MAPS[st.map] && st.map !== this.map) {
        this.map = st.map;
        this._emit('map', this.map);
      }
      this._emit('arena', this.arena);
    }
  }

  _applyArena(st) {
    const a = this.arena;
    const now = performance.now();
    const seen = new Set();
    for (const [id, p] of Object.entries(st.players)) {
      seen.add(id);
      const prev = a.players.get(id);
      if (prev && p.hp < prev.hp) a.hits.set(id, now);
      a.players.set(id, { id, name: p.name, x: p.x, y: p.y, hp: p.hp, seq: p.seq, px: prev ? prev.x : p.x, py: prev ? prev.y : p.y, at: now });
    }
    for (const id of [...a.players.keys()]) if (!seen.has(id)) a.players.delete(id);
    a.started = !!st.started;
    a.time_left_ms = st.time_left_ms;
    a.tick = st.tick;
    const mine = this.me && a.players.get(this.me.player_id);
    // Prediction: moves are absolute targets at most 2.6 units away, which the server reaches
    // exactly; adopt the server's position once it has applied the last move sent.
    if (mine && (!this.local || mine.seq >= this.seq)) this.local = { x: mine.x, y: mine.y };
  }

  /** Moves toward (dx, dy) (each -1..1) by one step; called every ARENA.inputMs while keys are held. */
  move(dx, dy) {
    if (this.phase !== 'playing' || !this.arena || !this.arena.started || !this.local) return;
    const mine = this.arena.players.get(this.me.player_id);
    if (!mine || mine.hp <= 0) return;
    const len = Math.hypot(dx, dy) || 1;
    const clamp = (v) => Math.max(0, Math.min(ARENA.size, v));
    const x = clamp(this.local.x + (dx / len) * ARENA.stepPerInput);
    const y = clamp(this.local.y + (dy / len) * ARENA.stepPerInput);
    this.local = { x, y };
    this.socket.sendInput({ action: 'move', x, y, seq: ++this.seq });
  }

  attack() {
    if (this.phase !== 'playing' || !this.arena || !this.arena.started) return false;
    const now = performance.now();
    if (now - this._lastAttack < ARENA.attackCooldownMs) return false;
    this._lastAttack = now;
    this.socket.sendInput({ action: 'attack' });
    this._emit('attack', { id: this.me.player_id, at: now });
    return true;
  }

  async leaveArena() {
    if (this.phase !== 'playing') return;
    await this.socket.leaveMatch().catch(() => {});
    this.arena = null;
    await this._enterChannel('lobby').catch(() => {});
    this._setPhase('lobby');
  }

  // ---- rounds, the map vote between them, the end of the match

  _onRound(d) {
    this.round = d.round ? { round: d.round, rounds: d.rounds } : null;
    this.log('ws', `match.message "round"${d.round ? ` ${d.round}/${d.rounds}` : ''}: ${Math.round(d.round_ms / 1000)} s on the clock${d.map && MAPS[d.map] ? `, ${MAPS[d.map].label}` : ''}`);
    if (d.map && MAPS[d.map] && d.map !== this.map) {
      this.map = d.map;
      this._emit('map', this.map);
    }
    if (this.phase === 'voting') {
      this.vote = null;
      this.arena.hits.clear();
      this.local = null; // everyone is back on a spawn point: adopt the server's position
      this._setPhase('playing');
    }
    this._emit('round', this.round);
  }

  _roundResult(r, final) {
    return { winner: r.winner || null, reason: r.reason || 'ended', winnerName: r.winner ? this.nameOf(r.winner) : null, round: r.round || null, rounds: r.rounds || null, final };
  }

  _onRoundOver(d) {
    this.lastResult = this._roundResult(d, !d.vote);
    this.log('ws', `match.message "round_over": ${d.winner ? `${this.nameOf(d.winner)} wins` : 'no winner'} (${d.reason})${d.vote ? ', map vote next' : ''}`);
    if (!d.vote) return; // match.finished follows
    this._emit('finished', this.lastResult);
    this.vote = this.vote && !this.vote.done ? this.vote : { match_id: this.arena.match_id, vote_id: null, options: null, tallies: {}, total_votes: 0, my_choice: null, result: null, vetoed_by: null, done: false };
    this._setPhase('voting');
    this._emit('vote', this.vote);
  }

  _onFinished(p) {
    if (!this.arena || p.match_id !== this.arena.match_id) return;
    const r = p.result || {};
    this.lastResult = this._roundResult(r, true);
    this.log('ws', `match.finished: ${r.winner ? `${this.nameOf(r.winner)} wins` : r.reason || 'over'}${r.rounds ? ` (${r.rounds.length} rounds)` : ''}`);
    const names = new Map([...(this.names || new Map())]);
    for (const [id, pl] of this.arena.players) names.set(id, { username: pl.name });
    this.names = names;
    this.arena = null;
    this.vote = null;
    this.round = null;
    this._emit('finished', this.lastResult);
    this._setPhase('over');
    this.loadWins(); // match.finished comes after the match's storage writes committed
    setTimeout(() => {
      if (this.phase === 'over') this._backToLobby();
    }, BACK_TO_LOBBY_MS);
  }

  _onVoteStart(v) {
    if (!this.arena || (v.match_id && v.match_id !== this.arena.match_id)) return;
    if (!this.vote || this.vote.done) {
      // the vote can arrive before round_over is handled: open the overlay now
      this.vote = { match_id: this.arena.match_id, vote_id: null, options: null, tallies: {}, total_votes: 0, my_choice: null, result: null, vetoed_by: null, done: false };
      this._setPhase('voting');
    }
    Object.assign(this.vote, { vote_id: v.vote_id, options: v.options, method: v.method, deadline: Date.now() + v.window_ms, window_ms: v.window_ms, tallies: {}, total_votes: 0, waiting: false });
    for (const o of v.options) this.vote.tallies[o.id] = 0;
    this.log('ws', `match.vote_start: ${v.options.map((o) => o.label).join(' / ')} (${v.method})`);
    this._emit('vote', this.vote);
  }

  async castVote(optionId) {
    const v = this.vote;
    if (!v || !v.vote_id || v.done) return;
    try {
      await this.socket.castVote(v.vote_id, v.method === 'plurality' ? optionId : [optionId]);
      v.my_choice = optionId;
      this.log('ws', `vote.cast "${optionId}" → vote.accepted`);
      this._emit('vote', v);
    } catch (err) {
      this.log('error', `vote.cast: ${err.code}${err.reason ? ` (${err.reason})` : ''}`);
    }
  }

  async vetoVote() {
    const v = this.vote;
    if (!v || !v.vote_id || v.done) return;
    try {
      const r = await this.socket.veto(v.vote_id);
      this.log('ws', `vote.veto → vote.veto_accepted (${r.tokens_left} left)`);
    } catch (err) {
      this.log('error', `vote.veto: ${err.code}${err.reason ? ` (${err.reason})` : ''}`);
    }
  }

  _onVoteResult(r) {
    if (!this.vote || this.vote.vote_id !== r.vote_id) return;
    this.vote.result = r;
    this.vote.tallies = r.counts;
    this.vote.total_votes = r.total_votes;
    this.vote.done = true;
    if (r.winner && MAPS[r.winner]) this.map = r.winner;
    this.log('ws', `match.vote_result: ${r.winner ? MAPS[r.winner].label : 'no winner'} (${r.total_votes} votes)`);
    this._emit('vote', this.vote);
    this._emit('map', this.map);
  }

  async _backToLobby() {
    if (this.socket.match) await this.socket.leaveMatch().catch(() => {});
    this.vote = null;
    this.arena = null;
    this.round = null;
    await this._enterChannel('lobby').catch(() => {});
    this._setPhase('lobby');
  }
}
