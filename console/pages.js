// The console's pages. Each is {title, mount(root, ctx) -> cleanup}; ctx = {admin, go, poll,
// params}. Pages refresh themselves with ctx.poll(fn, ms), which stops when the page is left.
import { el, fmtNum, fmtMs, fmtAgo, shortId, badge, table, jsonView, sparkline, toast, confirmButton, scriptError } from './ui.js';
import { finishedMatchView } from './history.js';

const statusBadge = (s) => badge(s, s === 'running' ? 'ok' : s === 'waiting' ? 'warn' : 'info');

// ---------------------------------------------------------------------------------------------

const overview = {
  title: 'Overview',
  mount(root, ctx) {
    const hist = { in: [], out: [], sessions: [] };
    const stat = (label, id) =>
      el('div', { className: 'card stat' }, el('div', { className: 'label', textContent: label }), el('div', { className: 'value', id: `ov-${id}`, textContent: '–' }), el('div', { className: 'sub', id: `ov-${id}-sub` }), el('canvas', { className: 'spark', id: `ov-${id}-spark` }));
    const dbCard = el('div', { className: 'card', id: 'ov-db' }, el('h3', { textContent: 'PostgreSQL' }));
    const modesCard = el('div', { className: 'card', id: 'ov-modes' }, el('h3', { textContent: 'Live matches by mode' }));
    root.append(
      el('div', { className: 'grid' }, stat('Sessions', 'players'), stat('Live matches', 'matches'), stat('Messages in / s', 'in'), stat('Messages out / s', 'out')),
      el('div', { className: 'row' }, dbCard, modesCard)
    );
    const q = (id) => root.querySelector(`#${id}`);
    // The overview's messages_out_per_s leaves out match.state broadcasts (counted only in
    // /metrics as moonbase_match_states_sent_total): add their rate from there.
    let statesPrev = null;
    const stateRate = async () => {
      const text = await fetch('/metrics').then((r) => (r.ok ? r.text() : ''), () => '');
      const m = /^moonbase_match_states_sent_total\s+([0-9.e+]+)$/m.exec(text);
      if (!m) return 0;
      const now = { t: performance.now(), v: Number(m[1]) };
      const prev = statesPrev;
      statesPrev = now;
      return prev && now.t > prev.t ? Math.max(0, ((now.v - prev.v) * 1000) / (now.t - prev.t)) : 0;
    };
    ctx.poll(async () => {
      const [o, states] = await Promise.all([ctx.admin.overview(), stateRate()]);
      const out = o.messages_out_per_s + states;
      for (const [k, v] of [['in', o.messages_in_per_s], ['out', out], ['sessions', o.authenticated_sessions]]) {
        hist[k].push(v);
        if (hist[k].length > 60) hist[k].shift();
      }
      q('ov-players').textContent = fmtNum(o.authenticated_sessions);
      q('ov-players-sub').textContent = `signed in, of ${fmtNum(o.sessions)} sockets · up ${fmtMs(o.uptime_s * 1000)}`;
      q('ov-matches').textContent = fmtNum(o.matches);
      const nModes = Object.keys(o.matches_by_mode).length;
      q('ov-matches-sub').textContent = `${nModes} mode${nModes === 1 ? '' : 's'} running`;
      q('ov-in').textContent = fmtNum(o.messages_in_per_s, 1);
      q('ov-out').textContent = fmtNum(out, 1);
      q('ov-in-sub').textContent = 'from clients';
      q('ov-out-sub').textContent = `${fmtNum(states, 1)} of them match.state`;
      sparkline(q('ov-players-spark'), hist.sessions, '#4ade80');
      sparkline(q('ov-in-spark'), hist.in, '#7c9cff');
      sparkline(q('ov-out-spark'), hist.out, '#f0abfc');
      const db = o.database;
      dbCard.replaceChildren(
        el('h3', {}, 'PostgreSQL ', db.up ? badge('up', 'ok') : badge('unreachable', 'bad')),
        el(
          'dl',
          { className: 'kv' },
          el('dt', { textContent: 'connections' }), el('dd', { textContent: `${db.connected} / ${db.pool_size}` }),
          el('dt', { textContent: 'busy' }), el('dd', { textContent: fmtNum(db.busy) }),
          el('dt', { textContent: 'queued queries' }), el('dd', { textContent: fmtNum(db.queued) }),
          el('dt', { textContent: 'durable writes pending' }), el('dd', {}, db.durable_pending ? badge(String(db.durable_pending), 'warn') : '0')
        )
      );
      const modes = Object.entries(o.matches_by_mode).sort((a, b) => b[1] - a[1]);
      modesCard.replaceChildren(
        el('h3', { textContent: 'Live matches by mode' }),
        modes.length
          ? el('dl', { className: 'kv' }, modes.map(([m, n]) => [el('dt', {}, el('a', { href: '#/matches', textContent: m })), el('dd', { textContent: fmtNum(n) })]))
          : el('p', { className: 'muted', textContent: 'No match is running.' })
      );
    }, 1000);
  },
};

// ---------------------------------------------------------------------------------------------

const matches = {
  title: 'Matches',
  mount(root, ctx) {
    const holder = el('div');
    root.append(holder);
    ctx.poll(async () => {
      const { matches: list } = await ctx.admin.matches();
      list.sort((a, b) => b.created_at - a.created_at);
      ctx.meta(`${list.length} live`);
      holder.replaceChildren(
        table(
          [
            { label: 'Match', render: (m) => el('code', { textContent: shortId(m.match_id), title: m.match_id }) },
            { label: 'Mode', render: (m) => m.mode },
            { label: 'Status', render: (m) => statusBadge(m.status) },
            { label: 'Players', render: (m) => `${m.player_count} / ${m.max_players}` },
            { label: 'Tick rate', num: true, render: (m) => `${m.tick_rate} Hz` },
            { label: 'Script', num: true, render: (m) => `v${m.script_version}` },
            { label: 'Tick', num: true, render: (m) => fmtNum(m.tick) },
            { label: 'Started', render: (m) => (m.started_at ? fmtAgo(m.started_at) : 'not yet') },
            { label: 'Who', wrap: true, render: (m) => m.players.map((p) => p.username).join(', ') },
            ...(list.some((m) => m.node_id) ? [{ label: 'Node', render: (m) => m.node_id || '' }] : []),
          ],
          list,
          { onRow: (m) => ctx.go(`#/matches/${m.match_id}`), empty: 'No live match. Start one from the demo (/demo) or POST /v1/matches.', rowKey: (m) => m.match_id }
        )
      );
    }, 2000);
  },
};

function minimap(canvas, state) {
  const players = state && state.players && typeof state.players === 'object' ? Object.entries(state.players) : [];
  const pts = players.filter(([, p]) => p && typeof p.x === 'number' && typeof p.y === 'number');
  if (!pts.length) {
    canvas.classList.add('hidden');
    return;
  }
  canvas.classList.remove('hidden');
  const dpr = window.devicePixelRatio || 1;
  const w = Math.round(canvas.clientWidth * dpr) || 300;
  canvas.width = w;
  canvas.height = w;
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, w, w);
  const size = Math.max(100, ...pts.map(([, p]) => Math.max(p.x, p.y)));
  ctx.strokeStyle = 'rgba(255,255,255,0.06)';
  for (let i = 1; i < 10; i++) {
    ctx.beginPath();
    ctx.moveTo((i * w) / 10, 0);
    ctx.lineTo((i * w) / 10, w);
    ctx.moveTo(0, (i * w) / 10);
    ctx.lineTo(w, (i * w) / 10);
    ctx.stroke();
  }
  const labels = [];
  for (const [id, p] of pts) {
    let h = 0;
    for (const c of id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    const x = (p.x / size) * w;
    const y = (p.y / size) * w;
    ctx.globalAlpha = p.hp === 0 ? 0.35 : 1;
    ctx.fillStyle = `hsl(${h % 360} 75% 55%)`;
    ctx.beginPath();
    ctx.arc(x, y, 7 * dpr, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillStyle = '#fff';
    const font = 11 * dpr;
    ctx.font = `${font}px system-ui, sans-serif`;
    ctx.textAlign = 'center';
    const label = p.name || shortId(id);
    // keep the name inside the map: shifted in from the sides, below the dot at the top edge
    const half = ctx.measureText(label).width / 2;
    const lx = Math.min(Math.max(x, half + 2 * dpr), w - half - 2 * dpr);
    const ly = y - 11 * dpr - font < 0 ? y + 7 * dpr + font + 2 * dpr : y - 11 * dpr;
    ctx.fillText(label, lx, ly);
    labels.push({ id, left: lx - half, right: lx + half, top: ly - font, bottom: ly, width: w });
    ctx.globalAlpha = 1;
  }
  canvas.labels = labels; // for tests: where each name was drawn
}

const match = {
  title: 'Match',
  mount(root, ctx) {
    const id = ctx.params[0];
    const info = el('div', { className: 'card', id: 'match-info' });
    const playersCard = el('div', { className: 'card', id: 'match-players' });
    const stateCard = el('div', { className: 'card' });
    const stateBox = el('div', { id: 'match-state' });
    const map = el('canvas', { className: 'minimap hidden', id: 'match-minimap' });
    let paused = false;
    const pause = el('button', { className: 'btn small-btn', type: 'button', textContent: 'Pause', onclick: () => (pause.textContent = (paused = !paused) ? 'Resume' : 'Pause') });
    stateCard.append(el('h3', {}, 'Current state ', el('span', { className: 'muted small', textContent: '(get_state, refreshed every second) ' }), pause), stateBox);
    const end = confirmButton('End match', 'Click again to end it', async () => {
      try {
        await ctx.admin.endMatch(id);
        toast('Match ended: players got match.finished {reason: "ended_by_admin"}');
      } catch (err) {
        toast(`End failed: ${err.message}`, 'bad');
      }
    });
    end.id = 'end-match';
    root.append(el('p', {}, el('a', { href: '#/matches', textContent: '← all matches' })), el('div', { className: 'detail' }, el('div', {}, info, playersCard), stateCard));
    ctx.meta(id);
    let gone = false;
    ctx.poll(async () => {
      if (gone) return;
      let m;
      try {
        m = await ctx.admin.match(id);
      } catch (err) {
        if (err.code !== 'not_found') throw err;
        // Over: show what PostgreSQL stored (the row is written just after the end, so a
        // first 404 is retried on the next poll).
        let stored;
        try {
          stored = await ctx.admin.request('GET', `/v1/admin/history/matches/${encodeURIComponent(id)}`);
        } catch (e2) {
          if (e2.code !== 'not_found' && e2.code !== 'bad_request') throw e2;
          info.replaceChildren(el('h3', {}, 'Match ', badge('finished', 'info')), el('p', { className: 'muted', textContent: e2.code === 'bad_request' ? e2.message : 'This match is not live; its stored result is not there (yet).' }));
          playersCard.classList.add('hidden');
          stateCard.classList.add('hidden');
          return;
        }
        gone = true;
        ctx.meta(`${id} · finished`);
        root.querySelector('.detail').replaceWith(finishedMatchView(stored));
        return;
      }
      info.replaceChildren(
        el('h3', {}, `${m.mode} `, statusBadge(m.status)),
        el(
          'dl',
          { className: 'kv' },
          el('dt', { textContent: 'match id' }), el('dd', { className: 'mono', textContent: m.match_id }),
          el('dt', { textContent: 'players' }), el('dd', { textContent: `${m.player_count} (min ${m.min_players}, max ${m.max_players})` }),
          el('dt', { textContent: 'tick' }), el('dd', { textContent: `${fmtNum(m.tick)} at ${m.tick_rate} Hz` }),
          el('dt', { textContent: 'script version' }), el('dd', { textContent: `v${m.script_version}` }),
          el('dt', { textContent: 'created' }), el('dd', { textContent: fmtAgo(m.created_at) }),
          el('dt', { textContent: 'started' }), el('dd', { textContent: m.started_at ? fmtAgo(m.started_at) : 'not yet' })
        ),
        el('div', { className: 'card-actions' }, end)
      );
      playersCard.replaceChildren(
        el('h3', { textContent: 'Seated players' }),
        table(
          [
            { label: 'Player', render: (p) => el('a', { href: `#/players/${p.player_id}`, textContent: p.username }) },
            { label: 'Connected', render: (p) => (p.connected ? badge('yes', 'ok') : badge('no', 'warn')) },
          ],
          m.players,
          { empty: 'Nobody seated.' }
        ),
        map
      );
      if (!paused) {
        stateBox.replaceChildren(jsonView(m.state));
        minimap(map, m.state);
      }
    }, 1000);
  },
};

// ---------------------------------------------------------------------------------------------

const players = {
  title: 'Players',
  mount(root, ctx) {
    const input = el('input', { id: 'player-q', placeholder: 'Username prefix or player id', value: ctx.query.q || '' });
    const holder = el('div');
    const form = el('form', { className: 'toolbar' }, input, el('button', { className: 'btn', type: 'submit', textContent: 'Search' }), el('span', { className: 'muted small', textContent: 'Online players; refreshed every 3 s.' }));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      refresh();
    });
    root.append(form, holder);
    const refresh = async () => {
      const { players: list } = await ctx.admin.players({ q: input.value.trim() || undefined, limit: 200 });
      ctx.meta(`${list.length} online${input.value.trim() ? ` matching “${input.value.trim()}”` : ''}`);
      holder.replaceChildren(
        table(
          [
            { label: 'Username', render: (p) => el('strong', { textContent: p.username }) },
            { label: 'Player id', render: (p) => el('code', { textContent: p.player_id }) },
            { label: 'Sockets', num: true, render: (p) => String(p.sessions.length) },
            { label: '', render: (p) => kickButton(ctx, p) },
          ],
          list,
          { onRow: (p) => ctx.go(`#/players/${p.player_id}`), empty: 'No online player matches.', rowKey: (p) => p.player_id }
        )
      );
    };
    ctx.poll(refresh, 3000);
  },
};

function kickButton(ctx, p) {
  const b = confirmButton('Kick', 'Confirm kick', async () => {
    try {
      const r = await ctx.admin.kickPlayer(p.player_id);
      toast(`Kicked ${p.username}: ${r.closed_sockets} socket${r.closed_sockets === 1 ? '' : 's'} closed (4001)`);
    } catch (err) {
      toast(`Kick failed: ${err.message}`, 'bad');
    }
  }, 'btn danger small-btn');
  b.addEventListener('click', (e) => e.stopPropagation());
  return b;
}

const player = {
  title: 'Player',
  mount(root, ctx) {
    const id = ctx.params[0];
    const card = el('div', { className: 'card', id: 'player-card' });
    const type = el('input', { value: 'message', placeholder: 'type', style: { maxWidth: '130px' } });
    const subject = el('input', { placeholder: 'Subject, e.g. "Welcome to the beta!"' });
    const notifyForm = el(
      'form',
      { className: 'card' },
      el('h3', { textContent: 'Send a notification' }),
      el('p', { className: 'muted small', textContent: 'Stored, then delivered live as notification.new when the player is online (POST /v1/admin/notifications).' }),
      el('div', { className: 'toolbar' }, type, subject, el('button', { className: 'btn', type: 'submit', textContent: 'Send' }))
    );
    notifyForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        await ctx.admin.notify(id, type.value.trim() || 'message', subject.value.trim() || 'Hello from the admins');
        toast('Notification stored and sent');
        subject.value = '';
      } catch (err) {
        toast(`Notification failed: ${err.message}`, 'bad');
      }
    });
    root.append(el('p', {}, el('a', { href: '#/players', textContent: '← players' })), el('div', { className: 'row' }, card, notifyForm));
    ctx.meta(id);
    ctx.poll(async () => {
      let p;
      try {
        p = await ctx.admin.player(id);
      } catch (err) {
        if (err.code !== 'not_found') throw err;
        card.replaceChildren(el('p', { className: 'muted', textContent: 'No such player.' }));
        return;
      }
      card.replaceChildren(
        el('h3', {}, `${p.username} `, p.online ? badge('online', 'ok') : badge('offline', 'info')),
        el(
          'dl',
          { className: 'kv' },
          el('dt', { textContent: 'player id' }), el('dd', { className: 'mono', textContent: p.player_id }),
          el('dt', { textContent: 'created' }), el('dd', { textContent: p.created_at || '–' }),
          el('dt', { textContent: 'sockets' }), el('dd', { textContent: p.sessions.length ? p.sessions.map((s) => `#${s.session_id}`).join(', ') : 'none' })
        ),
        el('div', { className: 'card-actions' }, p.online ? kickButton(ctx, p) : null)
      );
    }, 2000);
  },
};

// ---------------------------------------------------------------------------------------------

const matchmaker = {
  title: 'Matchmaker',
  mount(root, ctx) {
    const holder = el('div');
    root.append(holder);
    ctx.poll(async () => {
      const st = await ctx.admin.matchmaker();
      const rows = Object.entries(st.modes).map(([mode, s]) => ({ mode, ...s }));
      ctx.meta(`${fmtNum(st.tickets)} waiting ticket${st.tickets === 1 ? '' : 's'}${st.node_id ? ' in the cluster' : ''}`);
      holder.replaceChildren(
        table(
          [
            { label: 'Mode', render: (r) => el('strong', { textContent: r.mode }) },
            { label: 'Waiting tickets', num: true, render: (r) => fmtNum(r.tickets) },
            { label: 'Oldest wait', num: true, render: (r) => (r.tickets ? fmtMs(r.oldest_wait_ms) : '–') },
            { label: 'Matches formed', num: true, render: (r) => fmtNum(r.matches_formed) },
            { label: 'Mean wait', num: true, render: (r) => fmtMs(r.mean_wait_ms) },
            { label: 'Mean skill spread', num: true, render: (r) => fmtNum(r.mean_skill_spread, 1) },
            // cluster mode (docs/CLUSTER.md "Matchmaker"): the cluster's pool and its pass owner
            ...(st.node_id ? [
              { label: 'Pass owner', render: (r) => r.pass_owner || '–' },
              { label: 'Pass time', num: true, render: (r) => `${fmtNum(r.pass_ms, 2)} ms` },
              { label: 'Matched/s', num: true, render: (r) => fmtNum(r.matched_per_s, 1) },
            ] : []),
          ],
          rows,
          { empty: 'No ticket has been submitted yet (pools appear with the first matchmaker.add of a mode).', rowKey: (r) => r.mode }
        )
      );
    }, 1000);
  },
};

// ---------------------------------------------------------------------------------------------

const scripts = {
  title: 'Scripts',
  mount(root, ctx) {
    const holder = el('div');
    const server = el('div', { className: 'card', id: 'server-script' });
    const reload = el('button', { className: 'btn primary', type: 'button', id: 'reload', textContent: 'Reload scripts' });
    reload.addEventListener('click', async () => {
      reload.disabled = true;
      try {
        const st = await ctx.admin.reloadScripts();
        const failed = st.modes.filter((m) => m.error && m.error_at && Date.now() - m.error_at < 5000).length;
        render(st);
        toast(failed ? `Reloaded: ${failed} mode${failed === 1 ? '' : 's'} failed, the previous version stays live` : `Reloaded ${st.modes.length} modes and server.lua`, failed ? 'bad' : '');
      } catch (err) {
        toast(`Reload failed: ${err.message}`, 'bad');
      } finally {
        reload.disabled = false;
      }
    });
    root.append(
      el('div', { className: 'toolbar' }, reload, el('span', { className: 'muted small', textContent: 'Like SIGHUP: every mode gets a new version; running matches keep theirs. Files are also watched.' })),
      holder,
      el('div', { className: 'row' }, server)
    );
    const render = (st) => {
      ctx.meta(`${st.modes.length} modes`);
      holder.replaceChildren(
        table(
          [
            { label: 'Mode', render: (m) => el('strong', { textContent: m.mode }) },
            { label: 'Version', num: true, render: (m) => (m.version == null ? badge('never loaded', 'bad') : `v${m.version}`) },
            { label: 'Tick rate', num: true, render: (m) => (m.tick_rate ? `${m.tick_rate} Hz` : '–') },
            { label: 'Loaded', render: (m) => fmtAgo(m.loaded_at) },
            { label: 'Status', render: (m) => (m.status === 'retired' ? el('span', {}, badge('retired', 'warn'), el('span', { className: 'muted small', textContent: ` file removed ${fmtAgo(m.retired_at)}` })) : m.error ? badge('reload failed', 'bad') : badge('ok', 'ok')) },
            { label: 'Last error', wrap: true, render: (m) => (m.error ? el('div', {}, scriptError(m.error), el('span', { className: 'muted small', textContent: fmtAgo(m.error_at) })) : el('span', { className: 'muted', textContent: '–' })) },
          ],
          st.modes,
          { rowKey: (m) => m.mode }
        )
      );
      const s = st.server;
      server.replaceChildren(
        el('h3', {}, 'scripts/server.lua ', s.loaded ? badge(`v${s.version}`, 'ok') : badge('not loaded', 'warn')),
        el('dl', { className: 'kv' }, el('dt', { textContent: 'RPCs' }), el('dd', { className: 'mono', textContent: s.rpcs.length ? s.rpcs.sort().join(', ') : 'none' }), el('dt', { textContent: 'loaded' }), el('dd', { textContent: fmtAgo(s.loaded_at) })),
        ...(s.error ? [el('div', { style: { marginTop: '10px' } }, scriptError(s.error))] : [])
      );
    };
    ctx.poll(async () => render(await ctx.admin.scripts()), 3000);
  },
};

// ---------------------------------------------------------------------------------------------

const kindBadge = (k) => badge(k, k === 'match' ? 'ok' : k === 'dm' ? 'warn' : 'info');

/** "14:03:27" (local time), the full timestamp as a tooltip. */
function fmtTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return el('span', { textContent: iso || '–' });
  const sameDay = d.toDateString() === new Date().toDateString();
  const text = sameDay ? d.toLocaleTimeString('en-GB') : `${d.toLocaleDateString('en-CA')} ${d.toLocaleTimeString('en-GB')}`;
  return el('time', { className: 'muted mono', dateTime: iso, title: iso, textContent: text });
}

const chat = {
  title: 'Chat',
  mount(root, ctx) {
    const selected = ctx.params[0] || null;
    const open = (id) => ctx.go(`#/chat/${encodeURIComponent(id)}`);
    const input = el('input', { id: 'chat-open', placeholder: 'Channel id: room, match:<id> or dm:<player_id>:<player_id>', value: selected || '' });
    const form = el('form', { className: 'toolbar' }, input, el('button', { className: 'btn', type: 'submit', textContent: 'Open' }), el('span', { className: 'muted small', textContent: 'Live channels; refreshed every 2 s.' }));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (input.value.trim()) open(input.value.trim());
    });
    const list = el('div', { id: 'chat-channels' });
    const log = el('div', { className: 'card', id: 'chat-messages' });
    root.append(form, el('div', { className: 'chat-split' }, list, log));

    ctx.poll(async () => {
      const { channels, total } = await ctx.admin.chatChannels();
      ctx.meta(`${fmtNum(total)} live channel${total === 1 ? '' : 's'}${total > channels.length ? ` (showing ${channels.length})` : ''}`);
      const t = table(
        [
          { label: 'Channel', wrap: true, render: (c) => el('code', { textContent: c.channel_id }) },
          { label: 'Kind', render: (c) => kindBadge(c.kind) },
          { label: 'Members', num: true, render: (c) => fmtNum(c.members) },
          { label: 'Sockets', num: true, render: (c) => fmtNum(c.sockets) },
        ],
        channels,
        { onRow: (c) => open(c.channel_id), empty: 'No live channel: nobody has joined one (chat.join).', rowKey: (c) => c.channel_id }
      );
      for (const tr of t.querySelectorAll('tbody tr')) tr.classList.toggle('selected', tr.dataset.key === selected);
      list.replaceChildren(t);
    }, 2000);

    if (!selected) {
      log.append(el('h3', { textContent: 'Recent messages' }), el('p', { className: 'muted', textContent: 'Pick a channel to read its recent messages.' }));
      return;
    }
    let shown = null; // message ids last rendered: keep the scroll position when nothing changed
    ctx.poll(async () => {
      let page;
      try {
        page = await ctx.admin.chatMessages(selected, { limit: 100 });
      } catch (err) {
        if (err.code !== 'bad_request') throw err;
        log.replaceChildren(el('h3', { textContent: 'Recent messages' }), el('p', { className: 'error', textContent: err.message }));
        shown = null;
        return;
      }
      const ids = page.messages.map((m) => m.message_id).join();
      if (ids === shown) return;
      shown = ids;
      const lines = page.messages.map((m) =>
        el(
          'li',
          { dataset: { id: m.message_id } },
          fmtTime(m.sent_at),
          m.sender_username
            ? el('a', { className: 'who', href: `#/players/${m.sender_id}`, title: m.sender_id, textContent: m.sender_username })
            : el('a', { className: 'who mono', href: `#/players/${m.sender_id}`, title: m.sender_id, textContent: shortId(m.sender_id) }),
          // content is text typed by players: textContent only, never HTML
          el('span', { className: 'text', textContent: m.content })
        )
      );
      log.replaceChildren(
        el('h3', {}, 'Recent messages ', el('code', { className: 'chan', textContent: page.channel_id }), ' ', el('span', { className: 'muted small', textContent: `(newest first, last ${page.messages.length})` })),
        lines.length ? el('ul', { className: 'chat-log' }, lines) : el('p', { className: 'muted', textContent: 'No message stored in this channel.' })
      );
    }, 2000);
  },
};

export const PAGES = { overview, matches, match, players, player, matchmaker, scripts, chat };
