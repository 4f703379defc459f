// The console's Storage page (docs/STORAGE.md): #/storage lists the collections with their object
// counts; #/storage/<collection> browses one (every owner, or one: ?owner=<player id>|server) with
// a "More" cursor; #/storage/<collection>/<key>?owner=... views one object with its version, edits
// its value and permissions (the save carries the version it was loaded with, so an edit made on a
// stale view is refused with a conflict) and deletes it. Kept apart from pages.js; app.js merges
// STORAGE_PAGES. Values are shown and edited as text, never as HTML.
import { el, badge, table, toast, confirmButton, shortId } from './ui.js';

const enc = encodeURIComponent;
const when = (iso) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '–');
const ownerLabel = (o) => (o ? shortId(o) : 'server');
const ownerParam = (o) => (o ? o : 'server');

function collections(root, ctx) {
  const holder = el('div', { id: 'storage-collections' });
  const input = el('input', { id: 'storage-open', placeholder: 'Collection name' });
  const form = el('form', { className: 'toolbar' }, input, el('button', { className: 'btn', type: 'submit', textContent: 'Open' }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (input.value.trim()) ctx.go(`#/storage/${enc(input.value.trim())}`);
  });
  root.append(form, holder);
  ctx.poll(async () => {
    const { collections: cols } = await ctx.admin.storageCollections();
    holder.replaceChildren(
      table(
        [
          { label: 'Collection', render: (c) => el('strong', { textContent: c.collection }) },
          { label: 'Objects', render: (c) => String(c.count) },
        ],
        cols,
        { onRow: (c) => ctx.go(`#/storage/${enc(c.collection)}`), empty: 'No storage object yet.', rowKey: (c) => c.collection }
      )
    );
    ctx.meta(`${cols.length} collection${cols.length === 1 ? '' : 's'}`);
  }, 5000);
}

function browse(root, ctx, collection) {
  const owner = el('input', { id: 'storage-owner', placeholder: 'Owner: a player id, "server", or empty for every owner', value: ctx.query.owner || '' });
  const form = el('form', { className: 'toolbar' }, owner, el('button', { className: 'btn', type: 'submit', id: 'storage-filter', textContent: 'Filter' }));
  const holder = el('div', { id: 'storage-objects' });
  const more = el('button', { className: 'btn ghost hidden', id: 'storage-more', type: 'button', textContent: 'More' });
  root.append(el('p', {}, el('a', { href: '#/storage', textContent: '← collections' })), form, holder, more);
  let rows = [];
  let cursor = null;
  const columns = [
    { label: 'Key', render: (o) => el('strong', { textContent: o.key }) },
    { label: 'Owner', render: (o) => el('span', { className: 'mono', textContent: ownerLabel(o.owner_id) }) },
    { label: 'Version', render: (o) => el('span', { className: 'mono', textContent: o.version.slice(0, 8) }) },
    { label: 'Read', render: (o) => badge(o.permission_read, o.permission_read === 'public' ? 'ok' : 'info') },
    { label: 'Write', render: (o) => badge(o.permission_write, o.permission_write === 'none' ? 'warn' : 'info') },
    { label: 'Updated', render: (o) => when(o.updated_at) },
  ];
  const render = () => {
    holder.replaceChildren(
      table(columns, rows, {
        onRow: (o) => ctx.go(`#/storage/${enc(collection)}/${enc(o.key)}?owner=${enc(ownerParam(o.owner_id))}`),
        empty: 'No object in this collection.',
        rowKey: (o) => `${o.owner_id || 'server'}/${o.key}`,
      })
    );
    more.classList.toggle('hidden', !cursor);
    ctx.meta(`${collection}: ${rows.length}${cursor ? '+' : ''} object${rows.length === 1 ? '' : 's'}`);
  };
  const load = async (after) => {
    const r = await ctx.admin.listStorage(collection, { ownerId: owner.value.trim() || undefined, limit: 50, cursor: after || undefined });
    rows = after ? rows.concat(r.objects) : r.objects;
    cursor = r.cursor;
    render();
  };
  const run = (after) => load(after).catch((err) => toast(`Storage: ${err.message}`, 'bad'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    ctx.go(`#/storage/${enc(collection)}${owner.value.trim() ? `?owner=${enc(owner.value.trim())}` : ''}`);
  });
  more.addEventListener('click', () => run(cursor));
  run();
}

function object(root, ctx, collection, key) {
  const ownerQ = ctx.query.owner && ctx.query.owner !== 'server' ? ctx.query.owner : undefined;
  const card = el('div', { className: 'card', id: 'storage-card' });
  const value = el('textarea', { id: 'storage-value', rows: 12, spellcheck: false, style: { width: '100%', fontFamily: 'monospace' } });
  const pr = el('select', { id: 'storage-read' }, ...['none', 'owner', 'public'].map((v) => el('option', { value: v, textContent: `read: ${v}` })));
  const pw = el('select', { id: 'storage-write' }, ...['none', 'owner'].map((v) => el('option', { value: v, textContent: `write: ${v}` })));
  const form = el(
    'form',
    { className: 'card', id: 'storage-edit' },
    el('h3', { textContent: 'Value' }),
    value,
    el('div', { className: 'toolbar' }, pr, pw),
    el('div', { className: 'card-actions' }, el('button', { className: 'btn primary', type: 'submit', id: 'storage-save', textContent: 'Save' }))
  );
  const actions = el('div', { className: 'card-actions', id: 'storage-actions' });
  root.append(el('p', {}, el('a', { href: `#/storage/${enc(collection)}`, textContent: `← ${collection}` })), el('div', { className: 'row' }, card, form), actions);
  let version = '*'; // what the save requires: the loaded version, or "*" for a new object

  const show = (o) => {
    card.replaceChildren(
      el('h3', { id: 'storage-title', textContent: `${collection} / ${key}` }),
      el(
        'dl',
        { className: 'kv' },
        el('dt', { textContent: 'owner' }), el('dd', { className: 'mono', id: 'storage-owner-id', textContent: o ? o.owner_id || 'server' : ownerQ || 'server' }),
        el('dt', { textContent: 'version' }), el('dd', { className: 'mono', id: 'storage-version', textContent: o ? o.version : '(new object)' }),
        el('dt', { textContent: 'created' }), el('dd', { textContent: when(o && o.created_at) }),
        el('dt', { textContent: 'updated' }), el('dd', { textContent: when(o && o.updated_at) })
      )
    );
  };
  const load = async () => {
    const r = await ctx.admin.getStorageObject(collection, key, { ownerId: ownerQ });
    const o = r.objects[0];
    version = o ? o.version : '*';
    show(o);
    value.value = JSON.stringify(o ? o.value : {}, null, 2);
    pr.value = o ? o.permission_read : 'owner';
    pw.value = o ? o.permission_write : 'owner';
    actions.replaceChildren(
      o
        ? Object.assign(
            confirmButton('Delete', 'Confirm delete', async () => {
              try {
                await ctx.admin.deleteStorageObject(collection, key, { ownerId: ownerQ, version });
                toast(`Deleted ${collection}/${key}`);
                ctx.go(`#/storage/${enc(collection)}`);
              } catch (err) {
                toast(`Delete failed: ${err.message}`, 'bad');
              }
            }),
            { id: 'storage-delete' }
          )
        : el('p', { className: 'muted', id: 'storage-missing', textContent: 'No such object: saving creates it.' })
    );
    ctx.meta(o ? `version ${o.version}` : 'new object');
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let v;
    try {
      v = JSON.parse(value.value);
    } catch (err) {
      toast(`The value is not JSON: ${err.message}`, 'bad');
      return;
    }
    try {
      const r = await ctx.admin.putStorageObject(collection, key, { value: v, version, permission_read: pr.value, permission_write: pw.value }, { ownerId: ownerQ });
      toast(`Saved: version ${r.objects[0].version.slice(0, 8)}`);
      await load();
    } catch (err) {
      toast(err.code === 'conflict' ? `Not saved: the object changed meanwhile (${err.message}). Reload to see it.` : `Save failed: ${err.message}`, 'bad');
    }
  });
  const reload = el('button', { className: 'btn ghost', type: 'button', id: 'storage-reload', textContent: 'Reload' });
  reload.addEventListener('click', () => load().catch((err) => toast(`Storage: ${err.message}`, 'bad')));
  form.querySelector('.card-actions').append(reload);
  load().catch((err) => toast(`Storage: ${err.message}`, 'bad'));
}

const storage = {
  title: 'Storage',
  mount(root, ctx) {
    const [collection, key] = ctx.params;
    if (collection && key !== undefined) object(root, ctx, collection, key);
    else if (collection) browse(root, ctx, collection);
    else collections(root, ctx);
  },
};

export const STORAGE_PAGES = { storage };
