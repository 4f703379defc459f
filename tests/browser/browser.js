'use strict';
// What every browser test shares (tests/browser/*.test.js, tests/cluster/*console*.test.js):
// Debian's chromium driven by playwright-core, headless, in a profile folder of its own, with
// the page's errors collected so a test can assert there were none. Screenshots go to
// build/screenshots/.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('../integration/harness');

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.join(h.REPO_ROOT, 'build', 'screenshots');
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WAIT = Number(process.env.MOONBASE_BROWSER_WAIT_MS || 30000);
// tools/install-deps.sh installs chromium, so on a machine set up by `make test` this is false.
const skip = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (tools/install-deps.sh installs chromium)`;

/**
 * Launch chromium. tag names the profile folder; errors (an array) receives page errors,
 * console errors not matching ignoreConsole, and (dialogs: true) every dialog, dismissed.
 * Returns { ctx, page, dir }: close ctx and remove dir when done (close() does both).
 */
async function launch({ tag, errors, viewport = { width: 1280, height: 860 }, ignoreConsole = null, dialogs = false }) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const { chromium } = require('playwright-core');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `moonbase-chromium-${tag}-`));
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport });
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const page = ctx.pages()[0] || (await ctx.newPage());
  page.setDefaultTimeout(WAIT);
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && !(ignoreConsole && ignoreConsole.test(m.text())) && errors.push(`console: ${m.text()}`));
  if (dialogs) {
    page.on('dialog', (d) => {
      errors.push(`dialog: ${d.message()}`);
      d.dismiss().catch(() => {});
    });
  }
  const close = async () => {
    await ctx.close().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { ctx, page, dir, close };
}

module.exports = { CHROMIUM, SHOTS, WAIT, skip, launch };
