// The console's Accounts page: every stored account (not only online players), from
// /v1/admin/accounts* (docs/REST.md "Admin: accounts"). #/accounts searches; #/accounts/<id> shows
// one account with its sockets and refresh sessions, edits display name and metadata, bans,
// unbans, signs out everywhere and deletes. Kept apart from pages.js; app.js merges ACCOUNT_PAGES.
import { el, badge, table, toast, confirmButton } from './ui.js';

const enc = encodeURIComponent;
const when = (iso) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '–');
const statusBadges = (a) => [a.banned ? badge('banned', 'bad') : null, a.online ? badge('online', 'ok') : badge('offline', 'info')];

function search(root, ctx) {
  const input = el('input', { id: 'acct-q', placeholder: 'Username or email prefix, display name, or player id', value: ctx.query.q || '' });
  const filter = el('select', { id: 'acct-filter' }, el('option', { value: '', textContent: 'All accounts' }), el('option', { value: 'true', textContent: 'Banned only' }));
  filter.value = ctx.query.banned || '';
  const holder = el('div', { id: 'acct-results' });
  const more = el('button', { className: 'btn ghost hidden', id: 'acct-more', type: 'button', textContent: 'More' });
  const form = el('form', { className: 'toolbar' }, input, filter, el('button', { className: 'btn', type: 'submit', id: 'acct-search', textContent: 'Search' }));
  root.append(form, holder, more);
  let rows = [];
  let cursor = null;
  const columns = [
    { label: 'Username', render: (a) => el('strong', { textContent: a.username }) },
    { label: 'Display name', render: (a) => a.display_name ?? '' },
    { label: 'Email', render: (a) => a.email ?? '' },
    { label: 'Status', render: statusBadges },
    { label: 'Created', render: (a) => when(a.created_at) },
  ];
  const render = () => {
    holder.replaceChildren(table(columns, rows, { onRow: (a) => ctx.go(`#/accounts/${a.player_id}`), empty: 'No account matches.', rowKey: (a) => a.player_id }));
    more.classList.toggle('hidden', !cursor);
    ctx.meta(`${rows.length}${cursor ? '+' : ''} account${rows.length === 1 ? '' : 's'}`);
  };
  const load = async (after) => {
    const q = { q: input.value.trim() || undefined, banned: filter.value || undefined, limit: 50, after: after || undefined };
    const r = await ctx.admin.request('GET', '/v1/admin/accounts', { query: q });
    rows = after ? rows.concat(r.accounts) : r.accounts;
    cursor = r.next_cursor;
    render();
  };
  const run = (after) => load(after).catch((err) => toast(`Search failed: ${err.message}`, 'bad'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    run();
  });
  more.addEventListener('click', () => run(cursor));
  run();
}

function detail(root, ctx, id) {
  const path = `/v1/admin/accounts/${enc(id)}`;
  const card = el('div', { className: 'card', id: 'acct-card' });
  const sessions = el('div', { className: 'card', id: 'acct-sessions' });
  const name = el('input', { id: 'acct-display-name', placeholder: 'display name (empty clears it)', maxLength: 64 });
  const meta = el('textarea', { id: 'acct-metadata', rows: 6, spellcheck: false, style: { width: '100%', fontFamily: 'monospace' } });
  const editForm = el(
    'form',
    { className: 'card', id: 'acct-edit' },
    el('h3', { textContent: 'Edit' }),
    el('label', { textContent: 'Display name' }), name,
    el('label', { textContent: 'Metadata (a JSON object)' }), meta,
    el('div', { className: 'card-actions' }, el('button', { className: 'btn primary', type: 'submit', id: 'acct-save', textContent: 'Save' }))
  );
  const reason = el('input', { id: 'acct-ban-reason', placeholder: 'ban reason (shown to the player at sign-in)', maxLength: 256 });
  const actions = el('div', { className: 'card', id: 'acct-actions' });
  root.append(el('p', {}, el('a', { href: '#/accounts', textContent: '← accounts' })), el('div', { className: 'row' }, card, editForm), el('div', { className: 'row' }, actions, sessions));
  ctx.meta(id);

  let filled = false;
  const fillForm = (a) => {
    name.value = a.display_name ?? '';
    meta.value = JSON.stringify(a.metadata ?? {}, null, 2);
    filled = true;
  };
  const act = (label, fn) => async () => {
    try {
      const r = await fn();
      toast(`${label}: ${r.closed_sockets ?? 0} socket${r.closed_sockets === 1 ? '' : 's'} closed`);
      await refresh();
    } catch (err) {
      toast(`${label} failed: ${err.message}`, 'bad');
    }
  };
  let shownBanned = null;
  const showActions = (a) => {
    actions.replaceChildren(
      el('h3', { textContent: 'Actions' }),
      a.banned
        ? el('div', { className: 'card-actions' }, el('button', { className: 'btn', type: 'button', id: 'acct-unban', textContent: 'Unban', onclick: act('Unbanned', () => ctx.admin.request('POST', `${path}/unban`)) }))
        : el('div', { className: 'toolbar' }, reason, Object.assign(confirmButton('Ban', 'Confirm ban', act('Banned', () => ctx.admin.request('POST', `${path}/ban`, { body: reason.value.trim() ? { reason: reason.value.trim() } : {} }))), { id: 'acct-ban' })),
      el('p', { className: 'muted small', textContent: 'A ban closes the sockets (4003), revokes session and refresh tokens, drops the match seat and refuses sign-in (403 account_banned) until unbanned.' }),
      el(
        'div',
        { className: 'card-actions' },
        Object.assign(confirmButton('Sign out everywhere', 'Confirm sign-out', act('Signed out', () => ctx.admin.request('POST', `${path}/revoke`)), 'btn'), { id: 'acct-revoke' }),
        Object.assign(
          confirmButton('Delete account', 'Confirm delete (cannot be undone)', async () => {
            try {
              await ctx.admin.request('DELETE', path);
              toast(`Deleted ${a.username}`);
              ctx.go('#/accounts');
            } catch (err) {
              toast(`Delete failed: ${err.message}`, 'bad');
            }
          }),
          { id: 'acct-delete' }
        )
      )
    );
  };
  const show = (a) => {
    card.replaceChildren(
      el('h3', { id: 'acct-title' }, `${a.username} `, ...statusBadges(a)),
      el(
        'dl',
        { className: 'kv' },
        el('dt', { textContent: 'player id' }), el('dd', { className: 'mono', textContent: a.player_id }),
        el('dt', { textContent: 'display name' }), el('dd', { id: 'acct-dn', textContent: a.display_name ?? '–' }),
        el('dt', { textContent: 'email' }), el('dd', { textContent: a.email ?? '–' }),
        el('dt', { textContent: 'devices' }), el('dd', { textContent: String(a.devices) }),
        el('dt', { textContent: 'created' }), el('dd', { textContent: when(a.created_at) }),
        el('dt', { textContent: 'updated' }), el('dd', { textContent: when(a.updated_at) }),
        el('dt', { textContent: 'banned' }), el('dd', { id: 'acct-banned', textContent: a.banned ? `since ${when(a.banned_at)}${a.ban_reason ? `: ${a.ban_reason}` : ''}` : 'no' }),
        el('dt', { textContent: 'token version' }), el('dd', { textContent: String(a.token_version) })
      )
    );
    // rebuilt only when the ban state changes, so a poll does not disarm a half-confirmed button
    if (shownBanned !== a.banned) {
      shownBanned = a.banned;
      showActions(a);
    }
    sessions.replaceChildren(
      el('h3', { textContent: `Sockets (${a.sockets.length})` }),
      table(
        [
          { label: 'Session', render: (s) => `#${s.session_id}` },
          { label: 'IP', render: (s) => s.ip },
          { label: 'Connected', render: (s) => new Date(s.connected_at).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') },
        ],
        a.sockets,
        { empty: 'Offline.', rowKey: (s) => String(s.session_id) }
      ),
      el('h3', { textContent: `Refresh sessions (${a.active_refresh_tokens} active)` }),
      table(
        [
          { label: 'Signed in', render: (t) => when(t.created_at) },
          { label: 'Expires', render: (t) => when(t.expires_at) },
        ],
        a.refresh_sessions,
        { empty: 'None active.' }
      )
    );
  };
  let gone = false;
  const refresh = async () => {
    if (gone) return;
    let a;
    try {
      a = await ctx.admin.request('GET', path);
    } catch (err) {
      if (err.code !== 'not_found' && err.code !== 'bad_request') throw err;
      gone = true;
      card.replaceChildren(el('p', { className: 'muted', id: 'acct-missing', textContent: err.code === 'not_found' ? 'No such account (deleted?).' : err.message }));
      editForm.classList.add('hidden');
      actions.replaceChildren();
      sessions.replaceChildren();
      return;
    }
    show(a);
    if (!filled) fillForm(a);
  };
  editForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    let metadata;
    try {
      metadata = JSON.parse(meta.value || '{}');
    } catch (err) {
      toast(`Metadata is not JSON: ${err.message}`, 'bad');
      return;
    }
    try {
      const a = await ctx.admin.request('PATCH', path, { body: { display_name: name.value.trim() || null, metadata } });
      fillForm(a);
      show(a);
      toast('Saved');
    } catch (err) {
      toast(`Save failed: ${err.message}`, 'bad');
    }
  });
  ctx.poll(refresh, 3000);
}

const accounts = {
  title: 'Accounts',
  mount(root, ctx) {
    if (ctx.params[0]) detail(root, ctx, ctx.params[0]);
    else search(root, ctx);
  },
};

export const ACCOUNT_PAGES = { accounts };
