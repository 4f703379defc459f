// Browser copies of the SDK: demo/moonbase-client.js and console/moonbase-client.js, served by the
// server at /demo/moonbase-client.js and /console/moonbase-client.js (the static mounts serve
// only their own folder). Each copy is the source with a one-line header, byte for byte.
//
//   node sdk/js/scripts/build-browser.mjs           write the copies
//   node sdk/js/scripts/build-browser.mjs --check   exit 1 when a copy is missing or stale
// sdk/js/test/browser-build.test.js runs the check.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const SDK_DIR = resolve(here, '..');
export const REPO_ROOT = resolve(SDK_DIR, '..', '..');
export const SOURCE = join(SDK_DIR, 'src', 'moonbase-client.js');
export const TARGETS = [join(REPO_ROOT, 'demo', 'moonbase-client.js'), join(REPO_ROOT, 'console', 'moonbase-client.js')];

/** The exact bytes each browser copy must hold. */
export function browserBuild() {
  const header = '// GENERATED from sdk/js/src/moonbase-client.js by `npm run build` in sdk/js. Do not edit.\n';
  return Buffer.concat([Buffer.from(header), readFileSync(SOURCE)]);
}

/** Targets whose content differs from browserBuild() (or that are missing). */
export function staleTargets() {
  const want = browserBuild();
  return TARGETS.filter((t) => {
    try {
      return !readFileSync(t).equals(want);
    } catch {
      return true;
    }
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    const stale = staleTargets();
    for (const t of stale) console.error(`stale: ${relative(REPO_ROOT, t)} (run: npm run build in sdk/js)`);
    process.exit(stale.length ? 1 : 0);
  }
  const out = browserBuild();
  for (const t of TARGETS) {
    writeFileSync(t, out);
    console.log(`wrote ${relative(REPO_ROOT, t)} (${out.length} bytes)`);
  }
}
