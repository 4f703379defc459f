// The console's Nodes page (#/nodes): the nodes of a cluster (docs/CLUSTER.md) from
// GET /v1/cluster, refreshed every 2 s: id, url, load, start, last heartbeat. A single node
// (no --redis-url) shows itself alone.
import { el, fmtNum, fmtAgo, badge, table } from './ui.js';

const nodes = {
  title: 'Nodes',
  mount(root, ctx) {
    const head = el('p', { className: 'muted small' });
    const holder = el('div');
    root.append(head, holder);
    ctx.poll(async () => {
      const c = await ctx.admin.cluster();
      ctx.meta(`${c.nodes.length} node${c.nodes.length === 1 ? '' : 's'}`);
      head.replaceChildren(
        c.cluster
          ? el('span', {}, 'Cluster mode, Redis ', c.redis === 'ok' ? badge('ok', 'ok') : badge('unreachable', 'bad'), ` · this console talks to ${c.node_id}`)
          : el('span', { textContent: 'Single node (no --redis-url): see docs/CLUSTER.md to run several.' })
      );
      holder.replaceChildren(
        table(
          [
            { label: 'Node', render: (n) => el('code', { textContent: n.node_id }, n.node_id === c.node_id ? ' (this one)' : '') },
            { label: 'URL', render: (n) => el('a', { href: `${n.url}/console/`, textContent: n.url }) },
            { label: 'Sessions', num: true, render: (n) => fmtNum(n.sessions) },
            { label: 'Matches', num: true, render: (n) => fmtNum(n.matches) },
            { label: 'Started', render: (n) => fmtAgo(n.started_at) },
            { label: 'Last heartbeat', render: (n) => fmtAgo(n.last_seen) },
          ],
          c.nodes,
          { empty: 'No node registered yet.', rowKey: (n) => n.node_id }
        )
      );
    }, 2000);
  },
};

export const NODE_PAGES = { nodes };
