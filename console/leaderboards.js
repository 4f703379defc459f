// The console's leaderboards (#/leaderboards, #/leaderboards/<id>): every board with its period
// and next reset; a board's records from the top (paged with the cursor), a player's position
// (the records around them), and "Reset now". Routes: GET /v1/admin/leaderboards[/{id}],
// GET /v1/admin/leaderboards/{id}/around/{owner_id}, POST /v1/admin/leaderboards/{id}/reset
// (docs/REST.md "Leaderboards"), through the SDK's AdminClient.
import { el, fmtNum, badge, table, toast, confirmButton } from './ui.js';

const when = (iso) => (iso ? el('span', { title: iso, textContent: new Date(iso).toISOString().replace('T', ' ').slice(0, 16) + ' UTC' }) : el('span', { className: 'muted', textContent: 'never' }));
const who = (r) => el('span', {}, el('strong', { textContent: r.username || '–' }), ' ', el('code', { className: 'muted', textContent: r.owner_id.slice(0, 8), title: r.owner_id }));

const recordColumns = (highlight) => [
  { label: 'Rank', num: true, render: (r) => (r.owner_id === highlight ? el('strong', { textContent: fmtNum(r.rank) }) : fmtNum(r.rank)) },
  { label: 'Player', render: who },
  { label: 'Score', num: true, render: (r) => fmtNum(r.score) },
  { label: 'Subscore', num: true, render: (r) => fmtNum(r.subscore) },
  { label: 'Submits', num: true, render: (r) => fmtNum(r.num_submits) },
  { label: 'Updated', render: (r) => when(r.updated_at) },
];

const listPage = {
  title: 'Leaderboards',
  mount(root, ctx) {
    const holder = el('div', { id: 'lb-list' });
    root.append(holder);
    ctx.poll(async () => {
      const { leaderboards } = await ctx.admin.leaderboards();
      ctx.meta(`${leaderboards.length} board${leaderboards.length === 1 ? '' : 's'}`);
      holder.replaceChildren(
        table(
          [
            { label: 'Id', render: (b) => el('code', { textContent: b.id }) },
            { label: 'Order', render: (b) => `${b.operator}, ${b.sort === 'desc' ? 'high first' : 'low first'}` },
            { label: 'Reset', render: (b) => (b.reset ? el('code', { textContent: b.reset }) : el('span', { className: 'muted', textContent: 'never' })) },
            { label: 'Period', num: true, render: (b) => fmtNum(b.period) },
            { label: 'Next reset', render: (b) => when(b.next_reset) },
            { label: 'Records', num: true, render: (b) => fmtNum(b.total) },
            { label: 'Client submits', render: (b) => (b.client_submit ? badge('allowed', 'warn') : badge('server only', 'ok')) },
          ],
          leaderboards,
          { onRow: (b) => ctx.go(`#/leaderboards/${encodeURIComponent(b.id)}`), empty: 'No leaderboard yet (moonbase.leaderboard.create, or POST /v1/admin/leaderboards).', rowKey: (b) => b.id }
        )
      );
    }, 3000);
  },
};

const boardPage = {
  title: 'Leaderboard',
  mount(root, ctx) {
    const id = ctx.params[0];
    const head = el('div', { id: 'lb-head', className: 'toolbar' });
    const reset = confirmButton('Reset now', 'Click again to archive this period', async () => {
      try {
        const r = await ctx.admin.resetLeaderboard(id);
        toast(`Period ${r.closed_period} archived; period ${r.leaderboard.period} started.`, 'ok');
        await load();
      } catch (err) {
        toast(`Reset: ${err.message}`, 'bad');
      }
    });
    reset.id = 'lb-reset';
    const owner = el('input', { id: 'lb-owner', placeholder: 'Player id (UUID)', style: { minWidth: '330px' } });
    const find = el('form', { className: 'toolbar', id: 'lb-find' }, owner, el('button', { className: 'btn', type: 'submit', textContent: 'Find position' }));
    const around = el('div', { id: 'lb-around' });
    const records = el('div', { id: 'lb-records' });
    const more = el('button', { className: 'btn hidden', type: 'button', id: 'lb-more', textContent: 'Next page' });
    root.append(head, find, around, el('h3', { textContent: 'From the top' }), records, el('div', { className: 'toolbar' }, more));
    let cursor = null;
    let shown = [];
    const renderHead = (b) => {
      ctx.meta(`${b.operator}, ${b.sort === 'desc' ? 'high first' : 'low first'} · period ${b.period} · ${fmtNum(b.total)} records`);
      head.replaceChildren(
        el('code', { textContent: b.id }),
        el('span', { className: 'muted small' }, 'next reset: ', when(b.next_reset)),
        reset
      );
    };
    const load = async (append = false) => {
      const page = await ctx.admin.leaderboard(id, { limit: 50, cursor: append ? cursor : undefined });
      renderHead(page.leaderboard);
      shown = append ? shown.concat(page.records) : page.records;
      cursor = page.next_cursor;
      records.replaceChildren(table(recordColumns(null), shown, { empty: 'No record in this period.', rowKey: (r) => r.owner_id }));
      more.classList.toggle('hidden', !cursor);
    };
    more.addEventListener('click', () => load(true).catch((err) => toast(err.message, 'bad')));
    find.addEventListener('submit', async (e) => {
      e.preventDefault();
      const o = owner.value.trim();
      try {
        const r = await ctx.admin.leaderboardAround(id, o, { n: 5 });
        around.replaceChildren(
          el('h3', { textContent: r.owner_rank ? `Position of ${o.slice(0, 8)}: rank ${fmtNum(r.owner_rank)}` : `${o.slice(0, 8)} has no record in this period` }),
          r.records.length ? table(recordColumns(o), r.records, { rowKey: (x) => x.owner_id }) : ''
        );
      } catch (err) {
        around.replaceChildren(el('p', { className: 'error', textContent: err.message }));
      }
    });
    ctx.poll(() => (shown.length > 50 ? Promise.resolve() : load()), 3000);
  },
};

export const LEADERBOARD_PAGES = { leaderboards: listPage, leaderboard: boardPage };
