// Moonbase Console: sign-in with the admin token, hash routing, and live polling of the
// /v1/admin/* routes through the SDK's AdminClient.
import { AdminClient } from '/sdk/moonbase-client.js';
import { $, toast } from './ui.js';
import { PAGES } from './pages.js';
import { HISTORY_PAGES } from './history.js';
import { ACCOUNT_PAGES } from './accounts.js';
import { STORAGE_PAGES } from './storage.js';
import { NODE_PAGES } from './nodes.js';
import { LEADERBOARD_PAGES } from './leaderboards.js';

Object.assign(PAGES, HISTORY_PAGES); // #/history, #/errors (history.js)
Object.assign(PAGES, ACCOUNT_PAGES); // #/accounts and #/accounts/<id> (accounts.js)
Object.assign(PAGES, STORAGE_PAGES); // #/storage[/<collection>[/<key>]] (storage.js)
Object.assign(PAGES, NODE_PAGES); // #/nodes (nodes.js): the cluster
Object.assign(PAGES, LEADERBOARD_PAGES); // #/leaderboards and #/leaderboards/<id> (leaderboards.js)

const TOKEN_KEY = 'moonbase.console.token';
let admin = null;
let current = null; // {cleanup}

// ---------------------------------------------------------------------------------------------
// sign-in

function showSignin(message = '') {
  stopPage();
  admin = null;
  $('shell').classList.add('hidden');
  $('signin').classList.remove('hidden');
  $('signin-error').textContent = message;
  $('token').focus();
}

async function signIn(token) {
  const candidate = new AdminClient(location.origin, token);
  await candidate.overview(); // proves the token
  admin = candidate;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('signin').classList.add('hidden');
  $('shell').classList.remove('hidden');
  route();
}

$('signin-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const token = $('token').value.trim();
  $('signin-error').textContent = '';
  try {
    await signIn(token);
    $('token').value = '';
  } catch (err) {
    $('signin-error').textContent =
      err.code === 'unauthorized' ? 'That token was refused.' : err.code === 'forbidden' ? 'The admin API is disabled on this server (no --admin-token).' : `Could not reach the server: ${err.message}`;
  }
});

$('signout').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showSignin('Signed out.');
});

// ---------------------------------------------------------------------------------------------
// routing

function stopPage() {
  if (current) current.cleanup();
  current = null;
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '') || 'overview';
  const [path, qs] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const query = Object.fromEntries(new URLSearchParams(qs || ''));
  let name = parts[0];
  if (name === 'matches' && parts[1]) name = 'match';
  if (name === 'players' && parts[1]) name = 'player';
  if (name === 'leaderboards' && parts[1]) name = 'leaderboard';
  return { name: PAGES[name] ? name : 'overview', params: parts.slice(1), query, section: parts[0] };
}

function route() {
  if (!admin) return;
  stopPage();
  const { name, params, query, section } = parseHash();
  const page = PAGES[name];
  for (const a of document.querySelectorAll('.nav a')) a.classList.toggle('active', a.dataset.page === section || (section === undefined && a.dataset.page === 'overview'));
  $('page-title').textContent = page.title;
  $('page-meta').textContent = '';
  const root = $('page');
  root.replaceChildren();
  const timers = [];
  let alive = true;
  const live = document.querySelector('.live');
  const ctx = {
    admin,
    params,
    query,
    go: (hash) => (location.hash = hash),
    meta: (text) => ($('page-meta').textContent = text),
    /** Runs fn now and every ms while the page is shown; auth failures sign out. */
    poll(fn, ms) {
      let busy = false;
      const run = async () => {
        if (!alive || busy) return;
        busy = true;
        try {
          await fn();
          live.classList.remove('stale');
        } catch (err) {
          if (!alive) return;
          if (err.code === 'unauthorized') {
            sessionStorage.removeItem(TOKEN_KEY);
            showSignin('The admin token was refused: sign in again.');
            return;
          }
          live.classList.add('stale');
          toast(`${page.title}: ${err.message}`, 'bad');
        } finally {
          busy = false;
        }
      };
      run();
      timers.push(setInterval(run, ms));
    },
  };
  const extra = page.mount(root, ctx);
  current = {
    cleanup() {
      alive = false;
      timers.forEach(clearInterval);
      if (typeof extra === 'function') extra();
    },
  };
}

addEventListener('hashchange', route);

// ---------------------------------------------------------------------------------------------

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) {
  signIn(saved).catch((err) => showSignin(err.code === 'unauthorized' ? 'The saved admin token was refused.' : `Could not reach the server: ${err.message}`));
} else {
  showSignin();
}
