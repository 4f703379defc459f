// The demo page: DOM and input around one DemoPlayer (game.js) and the canvas view (render.js).
import { DemoPlayer, MAPS, ARENA } from './game.js';
import { ArenaView } from './render.js';
import { Bot } from './bot.js';

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  for (const c of children) e.append(c);
  return e;
};
const fmtTime = (ms) => {
  if (ms == null) return '--:--';
  const s = Math.ceil(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};

const player = new DemoPlayer({ baseUrl: location.origin });
const view = new ArenaView($('arena'));
let bot = null;
let botWanted = false;

// For the end-to-end tests and the curious: the live objects.
window.demo = { player, view, get bot() { return bot; } };

// ---------------------------------------------------------------------------------------------
// overlays and HUD

const OVERLAYS = ['ov-connecting', 'ov-lobby', 'ov-searching', 'ov-waiting', 'ov-vote', 'ov-offline'];
function show(id) {
  for (const o of OVERLAYS) $(o).classList.toggle('hidden', o !== id);
}

const PHASE_LABEL = { connecting: 'Signing in', lobby: 'Lobby', searching: 'Matchmaking', playing: 'Round in play', voting: 'Map vote', over: 'Match over' };

function phaseLabel(ph) {
  const r = player.round;
  if (ph === 'playing' && r) return `Round ${r.round} of ${r.rounds}`;
  return PHASE_LABEL[ph] || ph;
}

function renderPhase() {
  const ph = player.phase;
  document.body.dataset.phase = ph;
  $('hud-phase').textContent = phaseLabel(ph);
  if (ph === 'connecting') show('ov-connecting');
  else if (ph === 'lobby') {
    show('ov-lobby');
    $('btn-find').textContent = player.lastResult ? 'Play again' : 'Find a match';
  } else if (ph === 'searching') show('ov-searching');
  else if (ph === 'playing') show(player.arena && player.arena.started ? null : 'ov-waiting');
  else if (ph === 'voting') {
    show('ov-vote');
    renderVote();
  } else if (ph === 'over') {
    show('ov-vote');
    renderOver();
  }
  if (ph !== 'playing') renderPlayers();
  if (ph === 'lobby' || ph === 'searching') $('hud-time').textContent = '--:--';
}

function renderMap() {
  const m = MAPS[player.map];
  $('hud-map').innerHTML = `${m.icon}<span>${m.label}</span>`;
  document.documentElement.style.setProperty('--accent2', m.accent);
}

player.addEventListener('phase', renderPhase);

// ---------------------------------------------------------------------------------------------
// the arena leaderboard: the week's top 10 and your rank (GET /v1/leaderboards/arena_wins),
// refreshed when you are back in the lobby or a match is over

async function renderBoard() {
  if (!player.me) return;
  const c = player.client;
  let page;
  try {
    page = await c.leaderboardTop('arena_wins', { limit: 10 });
  } catch {
    return; // no board (yet): the placeholder stays
  }
  const list = $('board');
  const next = page.next_reset ? new Date(page.next_reset) : null;
  $('board-reset').textContent = next ? `resets ${next.toUTCString().slice(0, 11)} ${next.toISOString().slice(11, 16)} UTC` : '';
  if (page.records.length) {
    list.replaceChildren(...page.records.map((r) =>
      el('li', { className: r.owner_id === player.me.player_id ? 'me' : '' },
        el('span', { className: 'rank', textContent: `${r.rank}.` }),
        el('span', { className: 'name', textContent: r.username || (r.owner_id === player.me.player_id ? player.me.username : r.owner_id.slice(0, 8)) }),
        el('span', { className: 'score', textContent: String(r.score) }))));
  }
  try {
    const mine = await c.leaderboardRank('arena_wins', player.me.player_id);
    $('board-me').textContent = `You: rank ${mine.record.rank}, ${mine.record.score} win${mine.record.score === 1 ? '' : 's'} this week.`;
  } catch {
    $('board-me').textContent = 'Win a match to get on the board.';
  }
}
player.addEventListener('phase', (e) => {
  if (e.detail === 'lobby' || e.detail === 'over') renderBoard();
});
player.addEventListener('round', () => ($('hud-phase').textContent = phaseLabel(player.phase)));
player.addEventListener('online', (e) => {
  const n = e.detail;
  $('lobby-online').textContent = `${n} player${n === 1 ? '' : 's'} online in the lobby`;
  $('lobby-online').dataset.count = n;
});
player.addEventListener('map', renderMap);
player.addEventListener('connection', (e) => {
  setConn(e.detail.state);
  if (e.detail.state === 'offline') {
    $('offline-reason').textContent =
      e.detail.code === 4001 ? 'An administrator closed your connection.' : `The connection closed${e.detail.reason ? ` (${e.detail.reason})` : ''}.`;
    show('ov-offline');
  }
});
$('btn-reconnect').addEventListener('click', async () => {
  $('btn-reconnect').disabled = true;
  try {
    await player.reconnect();
  } catch (err) {
    $('offline-reason').textContent = `Still offline: ${err.message}`;
  } finally {
    $('btn-reconnect').disabled = false;
  }
});

function setConn(state) {
  const c = $('conn');
  c.className = `pill ${state === 'online' ? 'pill-ok' : state === 'offline' ? 'pill-bad' : 'pill-wait'}`;
  c.textContent = state === 'online' ? 'online' : state === 'offline' ? 'offline' : 'reconnecting…';
  c.dataset.state = state;
}
setInterval(() => {
  const s = player.socket;
  if (s && s.state === 'open' && s.latencyMs != null) $('conn').textContent = `online · ${s.latencyMs} ms`;
}, 2000);

// searching timer
setInterval(() => {
  if (player.phase === 'searching' && player.ticket) {
    $('ticket-id').textContent = player.ticket.ticket_id.slice(0, 8);
    $('search-time').textContent = Math.floor((Date.now() - player.ticket.since) / 1000);
  }
}, 250);

// ---------------------------------------------------------------------------------------------
// players panel

let lastPlayersRender = 0;
function renderPlayers() {
  const ul = $('players');
  const a = player.arena;
  ul.replaceChildren();
  if (!a || !a.players.size) {
    ul.append(el('li', { className: 'muted', textContent: player.phase === 'over' ? 'Match over.' : 'Not in a match yet.' }));
    $('player-count').textContent = '';
    return;
  }
  const list = [...a.players.values()].sort((x, y) => y.hp - x.hp || x.name.localeCompare(y.name));
  $('player-count').textContent = `${list.filter((p) => p.hp > 0).length} alive / ${list.length}`;
  for (const p of list) {
    const li = el('li', { className: p.hp > 0 ? '' : 'dead' });
    li.dataset.playerId = p.id;
    const sw = el('span', { className: 'swatch' });
    sw.style.background = `hsl(${player.hueOf(p.id)} 75% 55%)`;
    const name = el('span', { className: 'name', textContent: p.name });
    if (p.id === player.me.player_id) name.append(el('span', { className: 'you', textContent: ' (you)' }));
    const hp = el('span', { className: 'hp', title: `${p.hp} hp` }, el('i'));
    hp.firstChild.style.width = `${Math.max(0, p.hp)}%`;
    li.append(sw, name, hp);
    ul.append(li);
  }
}

player.addEventListener('arena', () => {
  const a = player.arena;
  if (!a) return;
  if (player.phase === 'playing') $('hud-time').textContent = fmtTime(a.started ? a.time_left_ms : null); // the vote has its own clock
  if (player.phase === 'playing') show(a.started ? null : 'ov-waiting');
  const now = performance.now();
  if (now - lastPlayersRender > 200) {
    lastPlayersRender = now;
    renderPlayers();
  }
});
player.addEventListener('attack', (e) => view.ring(e.detail.id));
player.addEventListener('wins', (e) => ($('lobby-wins').textContent = `Your wins: ${e.detail}`));
player.addEventListener('finished', (e) => {
  const r = e.detail;
  const what = r.round ? `round ${r.round}` : 'the round';
  const text = r.winner === player.me.player_id ? `You win ${what}!` : r.winner ? `${r.winnerName} wins ${what}` : 'Round over';
  $('round-result').textContent = text;
  if (r.final) $('lobby-last').textContent = `Last match: ${r.winner === player.me.player_id ? 'you won' : r.winner ? `${r.winnerName} won` : 'no winner'}.`;
  systemLine(text);
  $('hud-time').textContent = '--:--';
});

// ---------------------------------------------------------------------------------------------
// vote overlay

let voteCardsFor = null; // the vote_id the map cards were built for

function renderVote() {
  const v = player.vote;
  const box = $('vote-maps');
  if (!v) return;
  $('btn-veto').classList.remove('hidden');
  if (!v.vote_id) {
    $('vote-title').textContent = 'Vote on the next map';
    $('vote-sub').textContent = 'The vote opens in a moment…';
    box.replaceChildren();
    voteCardsFor = null;
    $('btn-veto').disabled = true;
    $('vote-timer').style.width = '100%';
    return;
  }
  if (v.result) {
    const w = v.result.winner;
    $('vote-title').textContent = w ? `Next map: ${MAPS[w].label}` : 'No winner: the map stays';
    $('vote-sub').textContent = `${v.result.total_votes} vote${v.result.total_votes === 1 ? '' : 's'} · the next round starts in a moment`;
  } else if (v.vetoed_by) {
    $('vote-title').textContent = 'Vote vetoed';
    $('vote-sub').textContent = `${player.nameOf(v.vetoed_by)} used a veto: the map stays ${MAPS[player.map].label}.`;
  } else {
    $('vote-title').textContent = 'Vote on the next map';
    $('vote-sub').textContent = v.my_choice ? `You voted ${MAPS[v.my_choice].label}. Live tally:` : 'Click a map. Tallies update live.';
  }
  // Build the cards once per vote (re-creating them under the pointer would eat clicks),
  // then update them in place.
  if (voteCardsFor !== v.vote_id) {
    voteCardsFor = v.vote_id;
    box.replaceChildren();
    for (const o of v.options || []) {
      const m = MAPS[o.id] || { icon: '', label: o.label };
      const card = el('button', { className: `map map-${o.id}`, type: 'button' });
      card.dataset.option = o.id;
      const glyph = el('span', { className: 'glyph' });
      glyph.innerHTML = m.icon;
      card.append(glyph, el('span', { className: 'label', textContent: o.label || m.label }), el('span', { className: 'bar' }, el('i')), el('span', { className: 'votes' }));
      card.addEventListener('click', () => {
        const cur = player.vote;
        if (cur && !cur.done) player.castVote(o.id);
      });
      box.append(card);
    }
  }
  const total = Object.values(v.tallies || {}).reduce((a, b) => a + b, 0);
  for (const card of box.children) {
    const id = card.dataset.option;
    const n = (v.tallies && v.tallies[id]) || 0;
    card.classList.toggle('mine', v.my_choice === id);
    card.classList.toggle('locked', !!v.done);
    card.classList.toggle('winner', !!(v.result && v.result.winner === id));
    card.classList.toggle('loser', !!(v.result && v.result.winner && v.result.winner !== id));
    card.querySelector('.bar i').style.width = total ? `${(100 * n) / total}%` : '0';
    card.querySelector('.votes').textContent = `${n} vote${n === 1 ? '' : 's'}`;
  }
  $('btn-veto').disabled = !!v.done;
  if (v.done) {
    $('vote-timer').style.width = '0';
    $('hud-time').textContent = '--:--';
  }
}

player.addEventListener('vote', () => {
  if (player.phase === 'voting') renderVote();
});

/** The match is over: its result, then back to the lobby (game.js BACK_TO_LOBBY_MS). */
function renderOver() {
  const r = player.lastResult;
  $('round-result').textContent = !r || !r.winner ? 'Match over' : r.winner === player.me.player_id ? 'You win the match!' : `${r.winnerName} wins the match`;
  $('vote-title').textContent = 'Match over';
  $('vote-sub').textContent = 'Back to the lobby in a moment…';
  $('vote-maps').replaceChildren();
  voteCardsFor = null;
  $('btn-veto').classList.add('hidden');
  $('vote-timer').style.width = '0';
}
setInterval(() => {
  const v = player.vote;
  if (!v || !v.vote_id || v.done || !v.deadline) return;
  const left = Math.max(0, v.deadline - Date.now());
  $('vote-timer').style.width = `${(100 * left) / v.window_ms}%`;
  $('hud-time').textContent = fmtTime(left);
}, 200);
$('btn-veto').addEventListener('click', () => player.vetoVote());

// ---------------------------------------------------------------------------------------------
// chat and the event log

function appendMessage(li) {
  const ul = $('messages');
  const stick = ul.scrollTop + ul.clientHeight >= ul.scrollHeight - 8;
  ul.append(li);
  while (ul.children.length > 200) ul.firstChild.remove();
  if (stick) ul.scrollTop = ul.scrollHeight;
}
function chatLine(m) {
  const who = el('span', { className: 'who', textContent: m.name });
  who.style.color = `hsl(${player.hueOf(m.sender_id)} 80% 70%)`;
  const li = el('li', {}, who, document.createTextNode(m.content));
  li.dataset.messageId = m.message_id;
  appendMessage(li);
}
function systemLine(text) {
  appendMessage(el('li', { className: 'sys', textContent: text }));
}

player.addEventListener('channel', (e) => {
  const { channel, history } = e.detail;
  $('chat-channel').textContent = channel === 'lobby' ? '#lobby' : channel.startsWith('match:') ? `#match ${channel.slice(6, 14)}` : `#${channel}`;
  $('chat-channel').title = channel;
  $('messages').replaceChildren();
  for (const m of history) chatLine(m);
  systemLine(channel === 'lobby' ? 'You are in the lobby.' : 'Match chat: only the players of this match read it (it stays through the map votes).');
});
player.addEventListener('chat', (e) => {
  if (e.detail.channel_id === player.channel) chatLine(e.detail);
});
$('chat-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('chat-input');
  player.say(input.value);
  input.value = '';
});

player.addEventListener('log', (e) => {
  const { kind, text } = e.detail;
  const ul = $('events');
  const li = el('li', {}, el('span', { className: `tag tag-${kind}`, textContent: kind === 'rest' ? 'REST' : kind === 'error' ? 'ERR' : 'WS' }), document.createTextNode(text));
  ul.prepend(li);
  while (ul.children.length > 40) ul.lastChild.remove();
});

// ---------------------------------------------------------------------------------------------
// buttons

async function ensureBot() {
  if (bot) return bot;
  const b = new Bot(location.origin);
  bot = b;
  try {
    await b.start();
    player.log('ws', `a bot (${b.player.me.username}) joined the lobby`);
  } catch (err) {
    bot = null;
    player.log('error', `bot: ${err.message}`);
  }
  return bot;
}

$('btn-find').addEventListener('click', () => {
  player.findMatch();
  if (botWanted && bot) bot.search();
});
async function playBot() {
  botWanted = true;
  const b = await ensureBot();
  if (player.phase === 'lobby') await player.findMatch();
  if (b) b.search();
}
$('btn-bot').addEventListener('click', playBot);
$('btn-bot2').addEventListener('click', playBot);
$('btn-cancel').addEventListener('click', () => {
  player.cancelSearch();
  if (bot) bot.cancel();
});

// ---------------------------------------------------------------------------------------------
// keyboard

const held = new Set();
const KEYS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1], KeyA: [-1, 0], KeyD: [1, 0], KeyW: [0, -1], KeyS: [0, 1] };
const typing = () => document.activeElement === $('chat-input');

addEventListener('keydown', (e) => {
  if (typing()) {
    if (e.key === 'Escape') $('chat-input').blur();
    return;
  }
  if (KEYS[e.code]) {
    held.add(e.code);
    e.preventDefault();
  } else if (e.code === 'Space') {
    e.preventDefault();
    if (player.attack()) view.ring(player.me.player_id);
  } else if (e.key === 'Enter') {
    e.preventDefault();
    $('chat-input').focus();
  }
});
addEventListener('keyup', (e) => held.delete(e.code));
addEventListener('blur', () => held.clear());

setInterval(() => {
  if (!held.size) return;
  let dx = 0;
  let dy = 0;
  for (const k of held) {
    dx += KEYS[k][0];
    dy += KEYS[k][1];
  }
  if (dx || dy) player.move(dx, dy);
}, ARENA.inputMs);

// ---------------------------------------------------------------------------------------------
// go

function frame() {
  view.draw(player);
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);

renderPhase();
renderMap();
player
  .start()
  .then(() => {
    $('me-name').textContent = player.me.username;
    $('lobby-name').textContent = player.me.username;
    document.querySelector('#me-chip .dot').style.background = `hsl(${player.hueOf(player.me.player_id)} 75% 55%)`;
    setConn('online');
  })
  .catch((err) => {
    setConn('offline');
    $('ov-connecting').querySelector('p').textContent = `Could not sign in: ${err.message}`;
  });
