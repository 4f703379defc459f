// Small DOM and formatting helpers of the console.

export const $ = (id) => document.getElementById(id);

/** el('div', {className, textContent, onclick...}, ...children) */
export function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'style' && typeof v === 'object') Object.assign(e.style, v);
    else e[k] = v;
  }
  for (const c of children.flat(Infinity)) if (c != null && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

export function fmtNum(n, digits = 0) {
  if (n == null || Number.isNaN(n)) return '–';
  return Number(n).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function fmtMs(ms) {
  if (ms == null) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function fmtAgo(epochMs) {
  if (!epochMs) return '–';
  return `${fmtMs(Math.max(0, Date.now() - epochMs))} ago`;
}

export const shortId = (id) => (id ? String(id).slice(0, 8) : '–');

export function badge(text, kind = 'info') {
  return el('span', { className: `badge ${kind}`, textContent: text });
}

/** A table: columns [{label, num?, render(row) -> node|string}], rows, onRow(row) */
export function table(columns, rows, { onRow, empty = 'Nothing here yet.', rowKey } = {}) {
  const thead = el('thead', {}, el('tr', {}, columns.map((c) => el('th', { className: c.num ? 'num' : '', textContent: c.label }))));
  const tbody = el('tbody');
  if (!rows.length) tbody.append(el('tr', {}, el('td', { className: 'empty', colSpan: columns.length, textContent: empty })));
  for (const r of rows) {
    const tr = el('tr', { className: onRow ? 'click' : '' });
    if (rowKey) tr.dataset.key = rowKey(r);
    if (onRow) tr.addEventListener('click', () => onRow(r));
    for (const c of columns) {
      const v = c.render(r);
      tr.append(el('td', { className: `${c.num ? 'num' : ''} ${c.wrap ? 'wrap' : ''}` }, v));
    }
    tbody.append(tr);
  }
  return el('table', {}, thead, tbody);
}

/** Pretty JSON as coloured HTML-safe nodes. */
export function jsonView(value) {
  const pre = el('pre', { className: 'json' });
  const text = JSON.stringify(value, null, 2) ?? 'null';
  const re = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    pre.append(text.slice(last, m.index));
    if (m[1]) pre.append(el('span', { className: m[2] ? 'k' : 's', textContent: m[1] }), m[2] || '');
    else if (m[3]) pre.append(el('span', { className: 'b', textContent: m[3] }));
    else pre.append(el('span', { className: 'n', textContent: m[4] }));
    last = m.index + m[0].length;
  }
  pre.append(text.slice(last));
  return pre;
}

/** A tiny line chart of the last values. */
export function sparkline(canvas, values, color = '#7c9cff') {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.round(canvas.clientWidth * dpr);
  const h = Math.round(canvas.clientHeight * dpr);
  if (!w || !h) return;
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, w, h);
  if (values.length < 2) return;
  const max = Math.max(1, ...values);
  const step = w / (values.length - 1);
  const y = (v) => h - 2 * dpr - (v / max) * (h - 4 * dpr);
  ctx.beginPath();
  values.forEach((v, i) => (i ? ctx.lineTo(i * step, y(v)) : ctx.moveTo(0, y(v))));
  ctx.strokeStyle = color;
  ctx.lineWidth = 2 * dpr;
  ctx.stroke();
  ctx.lineTo(w, h);
  ctx.lineTo(0, h);
  ctx.closePath();
  ctx.globalAlpha = 0.15;
  ctx.fillStyle = color;
  ctx.fill();
  ctx.globalAlpha = 1;
}

let toastTimer;
export function toast(text, kind = '') {
  const t = $('toast');
  t.textContent = text;
  t.className = `toast ${kind}`;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.add('hidden'), 3500);
}

/** A button that asks once more before acting ("End match" -> "Click again to confirm"). */
export function confirmButton(label, confirmLabel, action, className = 'btn danger') {
  const b = el('button', { className, textContent: label, type: 'button' });
  let armed = null;
  b.addEventListener('click', async () => {
    if (!armed) {
      b.textContent = confirmLabel;
      b.classList.add('armed');
      armed = setTimeout(() => {
        armed = null;
        b.textContent = label;
        b.classList.remove('armed');
      }, 4000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    b.disabled = true;
    try {
      await action();
    } finally {
      b.disabled = false;
      b.textContent = label;
      b.classList.remove('armed');
    }
  });
  return b;
}

/** Splits "path/file.lua:12: message" into nodes with the location highlighted. */
export function scriptError(text) {
  const box = el('div', { className: 'err mono' });
  const m = /^(.*?\.lua):(\d+):\s*(.*)$/s.exec(text || '');
  if (!m) {
    box.textContent = text;
    return box;
  }
  const file = m[1].split('/').slice(-2).join('/');
  box.append(el('span', { className: 'loc', title: m[1], textContent: `${file}:${m[2]}` }), ' ', m[3]);
  return box;
}
