// A practice opponent for a visitor who is alone: a second player in the same page, with its
// own device id and socket, driven by a few lines of "AI". It goes through the same matchmaker,
// match and vote as any player (DemoPlayer), so playing against it shows the whole product.
import { DemoPlayer, ARENA } from './game.js';

const BOT_NAMES = ['RoboRover', 'BeepBot', 'DustDroid', 'ProbeOne', 'RustyRover'];

export class Bot {
  constructor(baseUrl) {
    this.player = new DemoPlayer({
      baseUrl,
      deviceKey: 'moonbase.demo.bot-device',
      name: `${BOT_NAMES[Math.floor(Math.random() * BOT_NAMES.length)]}${Math.floor(Math.random() * 90) + 10}`,
    });
    this.timer = null;
    this.lastAttack = 0;
    this.wander = { x: 0, y: 0, until: 0 };
  }

  async start() {
    await this.player.start();
    this.player.addEventListener('vote', (e) => this._vote(e.detail));
    this.timer = setInterval(() => this._think(), 100);
    return this;
  }

  /** Joins the matchmaker with the human (call when the human searches). */
  search() {
    if (this.player.phase === 'lobby') this.player.findMatch();
  }

  cancel() {
    this.player.cancelSearch();
  }

  stop() {
    clearInterval(this.timer);
    this.player.socket && this.player.socket.close();
  }

  _think() {
    const p = this.player;
    if (p.phase !== 'playing' || !p.arena || !p.arena.started || !p.local) return;
    const meId = p.me.player_id;
    const foes = [...p.arena.players.values()].filter((x) => x.id !== meId && x.hp > 0);
    if (!foes.length) return;
    const me = p.local;
    foes.sort((a, b) => Math.hypot(a.x - me.x, a.y - me.y) - Math.hypot(b.x - me.x, b.y - me.y));
    const foe = foes[0];
    const d = Math.hypot(foe.x - me.x, foe.y - me.y);
    const now = performance.now();
    if (d <= ARENA.range - 2 && now - this.lastAttack > 650) {
      this.lastAttack = now;
      p.attack();
      return;
    }
    // Half the human's speed, with some wobble so it is beatable.
    if (now > this.wander.until) this.wander = { x: Math.random() * 2 - 1, y: Math.random() * 2 - 1, until: now + 800 };
    if (d > ARENA.range - 4 && Math.random() < 0.6) p.move(foe.x - me.x + this.wander.x * d * 0.6, foe.y - me.y + this.wander.y * d * 0.6);
  }

  _vote(v) {
    if (!v || !v.vote_id || v.done || v.my_choice || this._voting === v.vote_id) return;
    this._voting = v.vote_id;
    setTimeout(() => {
      const opts = v.options || [];
      if (opts.length) this.player.castVote(opts[Math.floor(Math.random() * opts.length)].id);
    }, 1200 + Math.random() * 1500);
  }
}
