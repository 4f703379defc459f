// The console's views of what is over: finished matches read back from PostgreSQL (#/history,
// and #/matches/{id} once a match has ended) and the last runtime errors of each mode's
// scripts (#/errors). Routes: GET /v1/admin/history/matches[/{id}], GET /v1/admin/scripts/errors
// (docs/REST.md "Admin: match history and script errors"), called through AdminClient.request.
import { el, fmtNum, fmtMs, fmtAgo, shortId, badge, table, jsonView, scriptError } from './ui.js';

const reasonBadge = (r) => badge(r || '–', r === 'error' ? 'bad' : r === 'finished' ? 'ok' : r === 'shutdown' || r === 'empty' ? 'warn' : 'info');

/** Distinct players of a stored match (its players list has one entry per join). */
function uniquePlayers(players) {
  const seen = new Map();
  for (const p of players || []) if (!seen.has(p.player_id)) seen.set(p.player_id, p);
  return [...seen.values()];
}

function nameOf(m, id) {
  const p = (m.players || []).find((x) => x.player_id === id);
  return p ? p.username : shortId(id);
}

/** One line for a stored result: the winner, the error, or the reason. */
function resultText(m) {
  const r = m.result || {};
  if (r.error) return scriptError(r.error);
  if (r.winner) return el('span', {}, el('strong', { textContent: nameOf(m, r.winner) }), ` won${r.reason ? ` (${r.reason})` : ''}`);
  return el('span', { className: 'muted', textContent: r.reason || (Object.keys(r).length ? JSON.stringify(r) : '–') });
}

function votesText(votes) {
  if (!votes || !votes.length) return el('span', { className: 'muted', textContent: '–' });
  return votes.map((v, i) => [i ? ', ' : '', v.outcome === 'vetoed' ? badge('vetoed', 'warn') : el('span', { textContent: v.winner || v.outcome })]);
}

const historyPage = {
  title: 'Match history',
  mount(root, ctx) {
    const q = ctx.query;
    const player = el('input', { id: 'history-player', placeholder: 'Player id or username prefix', value: q.player || '' });
    const mode = el('input', { id: 'history-mode', placeholder: 'Mode (e.g. arena)', value: q.mode || '', style: { maxWidth: '170px' } });
    const form = el('form', { className: 'toolbar', id: 'history-form' }, player, mode, el('button', { className: 'btn', type: 'submit', textContent: 'Search' }), el('span', { className: 'muted small', textContent: 'Finished matches, newest first, from PostgreSQL.' }));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const p = new URLSearchParams();
      if (player.value.trim()) p.set('player', player.value.trim());
      if (mode.value.trim()) p.set('mode', mode.value.trim());
      const hash = `#/history${p.toString() ? `?${p}` : ''}`;
      if (location.hash === hash) load(true);
      else ctx.go(hash);
    });
    const holder = el('div', { id: 'history-list' });
    const more = el('button', { className: 'btn hidden', type: 'button', id: 'history-more', textContent: 'Older matches' });
    const error = el('p', { className: 'error', id: 'history-error' });
    root.append(form, error, holder, el('div', { className: 'toolbar' }, more));
    let rows = [];
    let cursor = null;
    const render = () => {
      ctx.meta(`${rows.length} match${rows.length === 1 ? '' : 'es'}${q.player ? ` with “${q.player}”` : ''}${q.mode ? ` in ${q.mode}` : ''}${cursor ? ' (more below)' : ''}`);
      holder.replaceChildren(
        table(
          [
            { label: 'Finished', render: (m) => el('span', { title: new Date(m.finished_at).toISOString(), textContent: fmtAgo(m.finished_at) }) },
            { label: 'Match', render: (m) => el('code', { textContent: shortId(m.match_id), title: m.match_id }) },
            { label: 'Mode', render: (m) => m.mode },
            { label: 'Players', wrap: true, render: (m) => uniquePlayers(m.players).map((p) => p.username).join(', ') || '–' },
            { label: 'Duration', num: true, render: (m) => (m.duration_ms == null ? 'never started' : fmtMs(m.duration_ms)) },
            { label: 'Reason', render: (m) => reasonBadge(m.reason) },
            { label: 'Result', wrap: true, render: resultText },
            { label: 'Votes', wrap: true, render: (m) => votesText(m.votes) },
          ],
          rows,
          { onRow: (m) => ctx.go(`#/matches/${m.match_id}`), empty: q.player || q.mode ? 'No finished match matches this search.' : 'No match has finished yet.', rowKey: (m) => m.match_id }
        )
      );
      more.classList.toggle('hidden', !cursor);
    };
    const fetchPage = (before) => ctx.admin.request('GET', '/v1/admin/history/matches', { query: { player: q.player, mode: q.mode, limit: 25, before } });
    const load = async (reset) => {
      try {
        const page = await fetchPage(reset ? undefined : cursor);
        error.textContent = '';
        rows = reset ? page.matches : rows.concat(page.matches);
        cursor = page.next_cursor;
        render();
      } catch (err) {
        if (err.code !== 'bad_request') throw err;
        error.textContent = err.message; // the server says which parameter is wrong
        rows = [];
        cursor = null;
        render();
      }
    };
    more.addEventListener('click', () => load(false).catch((err) => (error.textContent = err.message)));
    // The newest page refreshes itself until older pages were loaded.
    let paged = false;
    more.addEventListener('click', () => (paged = true));
    ctx.poll(async () => {
      if (!paged) await load(true);
    }, 5000);
  },
};

/** The cards of a finished match (#/matches/{id} after it ended): the stored row and its votes. */
export function finishedMatchView(m) {
  const info = el(
    'div',
    { className: 'card', id: 'match-info' },
    el('h3', {}, `${m.mode} `, badge('finished', 'info')),
    el(
      'dl',
      { className: 'kv' },
      el('dt', { textContent: 'match id' }), el('dd', { className: 'mono', textContent: m.match_id }),
      el('dt', { textContent: 'reason' }), el('dd', {}, reasonBadge(m.reason)),
      el('dt', { textContent: 'players' }), el('dd', { textContent: fmtNum(uniquePlayers(m.players).length) }),
      el('dt', { textContent: 'duration' }), el('dd', { id: 'match-duration', textContent: m.duration_ms == null ? 'never started' : fmtMs(m.duration_ms) }),
      el('dt', { textContent: 'ticks' }), el('dd', { textContent: fmtNum(m.ticks) }),
      el('dt', { textContent: 'script version' }), el('dd', { textContent: `v${m.script_version}` }),
      el('dt', { textContent: 'finished' }), el('dd', { textContent: fmtAgo(m.finished_at) }),
      el('dt', { textContent: 'result' }), el('dd', {}, resultText(m))
    )
  );
  const players = el(
    'div',
    { className: 'card', id: 'match-players' },
    el('h3', { textContent: 'Players' }),
    table(
      [
        { label: 'Player', render: (p) => el('a', { href: `#/players/${p.player_id}`, textContent: p.username }) },
        { label: 'Played', num: true, render: (p) => (p.left_at && p.joined_at ? fmtMs(p.left_at - p.joined_at) : '–') },
        { label: 'Left', render: (p) => p.reason || '–' },
      ],
      m.players || [],
      { empty: 'Nobody joined.' }
    )
  );
  const votes = el(
    'div',
    { className: 'card', id: 'match-votes' },
    el('h3', { textContent: `Votes (${(m.votes || []).length})` }),
    (m.votes || []).length
      ? table(
          [
            { label: 'Method', render: (v) => v.method },
            { label: 'Outcome', render: (v) => (v.outcome === 'closed' ? badge('closed', 'ok') : badge(v.outcome, 'warn')) },
            { label: 'Winner', render: (v) => (v.result && v.result.winner) || (v.vetoed_by ? `vetoed by ${nameOf(m, v.vetoed_by)}` : '–') },
            { label: 'Counts', wrap: true, render: (v) => (v.result && v.result.counts ? Object.entries(v.result.counts).map(([k, n]) => `${k} ${n}`).join(' · ') : '–') },
          ],
          m.votes,
          { rowKey: (v) => v.vote_id }
        )
      : el('p', { className: 'muted', textContent: 'No vote in this match.' })
  );
  const result = el('div', { className: 'card', id: 'match-result' }, el('h3', { textContent: 'Stored result' }), jsonView(m.result), el('h3', { textContent: 'Params' }), jsonView(m.params));
  return el('div', { className: 'detail' }, el('div', {}, info, players), el('div', { className: 'stack' }, votes, result));
}

const errorsPage = {
  title: 'Script errors',
  mount(root, ctx) {
    const mode = ctx.query.mode;
    const holder = el('div', { id: 'script-errors' });
    root.append(
      el('p', { className: 'muted small' }, 'Runtime errors of match scripts (a callback failed, or ran out of time or memory: the match ended with reason "error"). The last 50 per mode, newest first, kept in memory since the server started. ', mode ? el('a', { href: '#/errors', textContent: 'All modes' }) : null),
      holder
    );
    let shown = null;
    ctx.poll(async () => {
      const st = await ctx.admin.request('GET', '/v1/admin/scripts/errors', { query: { mode } });
      const key = JSON.stringify(st.modes.map((m) => [m.mode, m.total]));
      if (key === shown) return; // keep open tracebacks open
      shown = key;
      const total = st.modes.reduce((a, m) => a + m.total, 0);
      ctx.meta(`${fmtNum(total)} error${total === 1 ? '' : 's'} since start${mode ? ` in ${mode}` : ''}`);
      if (!st.modes.length || !total) {
        holder.replaceChildren(el('div', { className: 'card' }, el('p', { className: 'muted', textContent: 'No match script has failed since the server started.' })));
        return;
      }
      holder.replaceChildren(
        ...st.modes.map((m) =>
          el(
            'div',
            { className: 'card errors-mode', dataset: { mode: m.mode } },
            el('h3', {}, el('a', { href: `#/errors?mode=${encodeURIComponent(m.mode)}`, textContent: m.mode }), ' ', badge(`${fmtNum(m.total)} error${m.total === 1 ? '' : 's'}`, m.total ? 'bad' : 'ok'), m.total > m.errors.length ? el('span', { className: 'muted small', textContent: ` showing the last ${m.errors.length}` }) : null),
            el(
              'ul',
              { className: 'error-list' },
              m.errors.map((e) =>
                el(
                  'li',
                  { dataset: { matchId: e.match_id } },
                  el('div', { className: 'error-head' }, el('span', { className: 'muted small', title: new Date(e.at).toISOString(), textContent: fmtAgo(e.at) }), ' ', el('a', { href: `#/matches/${e.match_id}`, className: 'mono small', title: e.match_id, textContent: `match ${shortId(e.match_id)}` }), el('span', { className: 'muted small', textContent: ` · v${e.script_version} · tick ${fmtNum(e.tick)}` })),
                  scriptError(e.message),
                  e.traceback ? el('details', {}, el('summary', { className: 'muted small', textContent: 'traceback' }), el('pre', { className: 'traceback', textContent: e.traceback })) : null
                )
              )
            )
          )
        )
      );
    }, 3000);
  },
};

export const HISTORY_PAGES = { history: historyPage, errors: errorsPage };
