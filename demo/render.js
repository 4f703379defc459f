// Canvas view of the arena: the map's floor, the players (interpolated between server states;
// your own position predicted), hit flashes and attack rings.
import { MAPS, ARENA } from './game.js';

const LERP_MS = 50; // one server tick at 20 Hz

function seeded(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

export class ArenaView {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.rings = []; // {id, at}
    this.decor = new Map();
  }

  ring(id) {
    this.rings.push({ id, at: performance.now() });
  }

  _fit() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(c.clientWidth * dpr);
    if (c.width !== w || c.height !== w) {
      c.width = w;
      c.height = w;
    }
    return w;
  }

  _decor(mapId) {
    if (!this.decor.has(mapId)) {
      const rnd = seeded(mapId.length * 7919 + mapId.charCodeAt(0));
      const items = [];
      for (let i = 0; i < 26; i++) items.push({ x: rnd() * 100, y: rnd() * 100, r: 0.6 + rnd() * 2.2, a: 0.15 + rnd() * 0.25 });
      this.decor.set(mapId, items);
    }
    return this.decor.get(mapId);
  }

  /** Draws one frame. player: a DemoPlayer (its arena, local position, map). */
  draw(player) {
    const w = this._fit();
    const ctx = this.ctx;
    const u = w / ARENA.size; // pixels per arena unit
    const map = MAPS[player.map] || MAPS.jungle;
    const now = performance.now();

    // floor
    const g = ctx.createRadialGradient(w / 2, w / 2, w * 0.1, w / 2, w / 2, w * 0.75);
    g.addColorStop(0, map.grid);
    g.addColorStop(1, map.floor);
    ctx.fillStyle = g;
    ctx.fillRect(0, 0, w, w);
    ctx.strokeStyle = 'rgba(255,255,255,0.05)';
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let i = 10; i < ARENA.size; i += 10) {
      ctx.moveTo(i * u, 0);
      ctx.lineTo(i * u, w);
      ctx.moveTo(0, i * u);
      ctx.lineTo(w, i * u);
    }
    ctx.stroke();
    for (const d of this._decor(player.map)) {
      ctx.fillStyle = map.accent;
      ctx.globalAlpha = d.a;
      ctx.beginPath();
      ctx.arc(d.x * u, d.y * u, d.r * u, 0, Math.PI * 2);
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    ctx.strokeStyle = map.accent;
    ctx.lineWidth = Math.max(2, u * 0.4);
    ctx.strokeRect(ctx.lineWidth / 2, ctx.lineWidth / 2, w - ctx.lineWidth, w - ctx.lineWidth);

    const arena = player.arena;
    if (!arena) return;
    const meId = player.me && player.me.player_id;

    // players: the dead first, you last (on top)
    const list = [...arena.players.values()].sort((a, b) => (a.hp > 0) - (b.hp > 0) || (a.id === meId) - (b.id === meId));
    const labels = [];
    this.labels = labels; // where each name was drawn (canvas pixels), for the tests
    for (const p of list) {
      let x, y;
      if (p.id === meId && player.local) ({ x, y } = player.local);
      else {
        const t = Math.min(1, (now - p.at) / LERP_MS);
        x = p.px + (p.x - p.px) * t;
        y = p.py + (p.y - p.py) * t;
      }
      const cx = x * u;
      const cy = y * u;
      const hue = player.hueOf(p.id);
      const alive = p.hp > 0;
      const r = 3.2 * u;

      if (p.id === meId && alive) {
        ctx.strokeStyle = 'rgba(255,255,255,0.12)';
        ctx.setLineDash([u, u]);
        ctx.lineWidth = Math.max(1, u * 0.25);
        ctx.beginPath();
        ctx.arc(cx, cy, ARENA.range * u, 0, Math.PI * 2);
        ctx.stroke();
        ctx.setLineDash([]);
      }
      // shadow + body
      ctx.globalAlpha = alive ? 1 : 0.35;
      ctx.fillStyle = 'rgba(0,0,0,0.35)';
      ctx.beginPath();
      ctx.ellipse(cx, cy + r * 0.8, r * 0.9, r * 0.35, 0, 0, Math.PI * 2);
      ctx.fill();
      const hit = arena.hits.get(p.id);
      const flash = hit && now - hit < 180;
      const body = ctx.createRadialGradient(cx - r * 0.35, cy - r * 0.35, r * 0.2, cx, cy, r);
      body.addColorStop(0, flash ? '#fff' : `hsl(${hue} 90% 75%)`);
      body.addColorStop(1, flash ? '#ef4444' : alive ? `hsl(${hue} 75% 48%)` : '#555');
      ctx.fillStyle = body;
      ctx.beginPath();
      ctx.arc(cx, cy, r, 0, Math.PI * 2);
      ctx.fill();
      if (p.id === meId) {
        ctx.strokeStyle = '#fff';
        ctx.lineWidth = Math.max(2, u * 0.5);
        ctx.stroke();
      }
      // name and hp: above the body, or below it near the top edge; shifted in from the sides
      // so that a player at the arena's edge keeps a readable name
      const font = Math.max(11, u * 2.6);
      ctx.font = `600 ${font}px system-ui, sans-serif`;
      ctx.textAlign = 'center';
      ctx.fillStyle = '#fff';
      const label = alive ? p.name : `${p.name} ✖`;
      const half = ctx.measureText(label).width / 2;
      const pad = u * 0.8;
      const lx = Math.min(Math.max(cx, half + pad), w - half - pad);
      const above = cy - r - u * 3.2 - font >= pad;
      const ly = above ? cy - r - u * 3.2 : cy + r + u * 1.2 + font;
      ctx.fillText(label, lx, ly);
      labels.push({ id: p.id, left: lx - half, right: lx + half, top: ly - font, bottom: ly, width: w });
      const bw = 9 * u;
      const bh = Math.max(3, u * 0.9);
      const bx = Math.min(Math.max(cx - bw / 2, pad), w - bw - pad);
      const by = above ? cy - r - u * 2.3 : cy + r + u * 0.3;
      ctx.fillStyle = 'rgba(0,0,0,0.55)';
      ctx.fillRect(bx, by, bw, bh);
      ctx.fillStyle = p.hp > 50 ? '#4ade80' : p.hp > 25 ? '#facc15' : '#ef4444';
      ctx.fillRect(bx, by, (bw * Math.max(0, p.hp)) / 100, bh);
      ctx.globalAlpha = 1;
    }

    // attack rings
    this.rings = this.rings.filter((ring) => now - ring.at < 300);
    for (const ring of this.rings) {
      const p = ring.id === meId && player.local ? player.local : arena.players.get(ring.id);
      if (!p) continue;
      const k = (now - ring.at) / 300;
      ctx.strokeStyle = `rgba(255,255,255,${0.8 * (1 - k)})`;
      ctx.lineWidth = Math.max(2, u * 0.6);
      ctx.beginPath();
      ctx.arc(p.x * u, p.y * u, ARENA.range * u * (0.3 + 0.7 * k), 0, Math.PI * 2);
      ctx.stroke();
    }
  }
}
