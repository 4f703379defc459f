#!/usr/bin/env node
// tools/lint-deps.js: the dependency rules of docs/DEVELOPING.md ("Layers"), checked from the
// source text alone (no build needed). Called by tools/lint.sh; exit 1 when a rule is broken.
//
// Graph 1, includes: one node per *file unit*: x.c together with x.h and x_internal.h of the same
//   folder (a header declares what its .c defines, so including x.h means depending on x.c). A
//   header without a .c of its stem is a node of its own (mb.h, server.h, ...). Edge A -> B when
//   a file of A has `#include "f"` and f resolves (the including file's folder, then runtime/,
//   runtime/lua/, then every modules/* folder, as CMake's include paths do) to a file of B.
//   Rule: no cycle, over the whole tree (runtime/, runtime/lua/, modules/), except the ones
//   KNOWN_CYCLES lists (printed on every run).
// Graph 2, calls (runtime/ and runtime/lua/): edge a.c -> b.c when a.c names an mb_* function or
//   global that b.c defines. Rule: no cycle (an umbrella header cannot hide one).
// Graph 3, modules: edge from a module folder to the folder of each module its records require
//   (below). Rule: no cycle (such a list could not be ordered; the runtime would refuse it).
// Rule 3: runtime/ includes no module header, except runtime/main.c; and no runtime .c includes
//   the modules' umbrella server.h (core.c/core.h/main.c at the top may).
// Rule 4: a module includes runtime headers (not *_internal.h, core.h, transport.h), headers of
//   its own folder, and the public headers (not *_internal.h) of the modules it declares. The
//   declaration is the one in C: the `.requires = MB_REQUIRES("a", "b")` member of the folder's
//   `const mb_module x = {...}` records (runtime/module.h), which the runtime also checks at
//   start-up; a folder may use what any of its records requires. No other list exists.
//
// `node tools/lint-deps.js --self-test` checks the checker: it copies runtime/ and modules/ to a
// temporary tree, adds an include of an undeclared module there, and expects this script to fail
// on it (and to pass on the unmodified copy).
'use strict';
const fs = require('fs');
const path = require('path');

if (process.argv[2] === '--self-test') process.exit(selfTest());

const ROOT = path.resolve(process.env.MB_LINT_DEPS_ROOT || path.join(__dirname, '..'));
const rel = (p) => path.relative(ROOT, p);

// Cycles that exist today and are tolerated until their owners split them (printed, not
// failed). A cycle that is not listed exactly (a new one, or one of these grown) fails.
const KNOWN_CYCLES = {
};
const RUNTIME_PRIVATE = /(_internal\.h|^core\.h|^transport\.h)$/;

function walk(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (/\.[ch]$/.test(e.name)) out.push(p);
  }
  return out;
}

const files = [...walk(path.join(ROOT, 'runtime')), ...walk(path.join(ROOT, 'modules'))].sort();
const moduleDirs = fs.readdirSync(path.join(ROOT, 'modules'), { withFileTypes: true })
  .filter((e) => e.isDirectory()).map((e) => path.join(ROOT, 'modules', e.name));
const searchDirs = [path.join(ROOT, 'runtime'), path.join(ROOT, 'runtime/lua'), ...moduleDirs];

const unitOf = (f) => {
  const dir = path.dirname(f);
  const stem = path.basename(f).replace(/\.[ch]$/, '').replace(/_internal$/, '');
  const c = path.join(dir, stem + '.c');
  return rel(fs.existsSync(c) ? c : f.replace(/_internal\.h$/, '.h'));
};
const moduleOf = (f) => {
  const r = rel(f).split(path.sep);
  return r[0] === 'modules' ? r[1] : null;
};

function strip(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ')
    .replace(/"(?:\\.|[^"\\\n])*"/g, '""').replace(/'(?:\\.|[^'\\\n])*'/g, "''");
}

const errors = [];

// ---- the modules' declarations: `const mb_module <id> = { ... };` records in modules/<dir>/*.c
const uncomment = (t) => t.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
const folderOfModule = new Map(); // module name -> folder
const declared = new Map();       // folder -> Set of required module names
for (const f of files.filter((x) => moduleOf(x) && x.endsWith('.c'))) {
  const text = uncomment(fs.readFileSync(f, 'utf8'));
  for (const m of text.matchAll(/\bconst\s+mb_module\s+\w+\s*=\s*\{([\s\S]*?)\};/g)) {
    const body = m[1];
    const name = (body.match(/\.name\s*=\s*"([^"]+)"/) || [])[1];
    if (!name) { errors.push(`${rel(f)}: an mb_module record without .name = "..."`); continue; }
    if (folderOfModule.has(name)) errors.push(`${rel(f)}: module name "${name}" declared twice`);
    folderOfModule.set(name, moduleOf(f));
    const set = declared.get(moduleOf(f)) || new Set();
    declared.set(moduleOf(f), set);
    const req = body.match(/\.requires\s*=\s*(MB_REQUIRES\s*\([^)]*\)|[^,]*)/);
    if (!req) continue;
    const lit = req[1].match(/^MB_REQUIRES\s*\(([^)]*)\)$/);
    if (!lit || !/^\s*"[^"]+"(\s*,\s*"[^"]+")*\s*$/.test(lit[1])) {
      errors.push(`${rel(f)}: module ${name}: write .requires = MB_REQUIRES("a", "b") (string literals) so the lint can read it`);
      continue;
    }
    for (const r of lit[1].matchAll(/"([^"]+)"/g)) set.add(r[1]);
  }
}
for (const [dir, set] of declared)
  for (const r of set)
    if (!folderOfModule.has(r)) errors.push(`modules/${dir}: requires module "${r}", which no mb_module record names`);
const mayUse = (dir, otherDir) => [...(declared.get(dir) || [])].some((r) => folderOfModule.get(r) === otherDir);

const includes = new Map(); // file -> [resolved file]
for (const f of files) {
  const text = fs.readFileSync(f, 'utf8');
  const list = [];
  for (const m of text.matchAll(/^\s*#\s*include\s+"([^"]+)"/gm)) {
    const cands = [path.dirname(f), ...searchDirs].map((d) => path.join(d, m[1]));
    const hit = cands.find((p) => fs.existsSync(p));
    if (!hit) { errors.push(`${rel(f)}: #include "${m[1]}" not found`); continue; }
    list.push(hit);
  }
  includes.set(f, list);
}

// ---- graph helpers
function cycles(edges) { // Tarjan: strongly connected components with more than one node
  let index = 0;
  const idx = new Map(), low = new Map(), on = new Set(), stack = [], out = [];
  const nodes = [...edges.keys()];
  function visit(v) {
    idx.set(v, index); low.set(v, index); index++; stack.push(v); on.add(v);
    for (const w of edges.get(v) || []) {
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do { w = stack.pop(); on.delete(w); comp.push(w); } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  }
  for (const v of nodes) if (!idx.has(v)) visit(v);
  return out;
}
function addEdge(edges, a, b, why, whyMap) {
  if (a === b) return;
  if (!edges.has(a)) edges.set(a, new Set());
  if (!edges.has(b)) edges.set(b, new Set());
  edges.get(a).add(b);
  const k = a + ' -> ' + b;
  if (!whyMap.has(k)) whyMap.set(k, why);
}
const known = [];
function report(name, edges, why) {
  for (const comp of cycles(edges)) {
    const key = name + ':' + comp.join(',');
    if (KNOWN_CYCLES[key]) { known.push(`known ${name} cycle (${KNOWN_CYCLES[key]}): ${comp.join(', ')}`); continue; }
    const set = new Set(comp);
    const detail = [];
    for (const a of comp) for (const b of edges.get(a)) if (set.has(b)) detail.push(`    ${a} -> ${b} (${why.get(a + ' -> ' + b)})`);
    errors.push(`${name} cycle between ${comp.join(', ')}:\n${detail.join('\n')}`);
  }
}

// ---- graph 1: includes
const incEdges = new Map(), incWhy = new Map();
for (const [f, list] of includes) {
  incEdges.has(unitOf(f)) || incEdges.set(unitOf(f), new Set());
  for (const h of list) addEdge(incEdges, unitOf(f), unitOf(h), `${rel(f)} includes ${rel(h)}`, incWhy);
}
report('include', incEdges, incWhy);

// ---- graph 2: calls between runtime .c files
const rtC = files.filter((f) => f.endsWith('.c') && rel(f).startsWith('runtime' + path.sep));
const defs = new Map();
const stripped = new Map();
for (const f of rtC) {
  const s = strip(fs.readFileSync(f, 'utf8'));
  stripped.set(f, s);
  // functions: a line starting at column 0 (not static), name(...), then a body
  for (const m of s.matchAll(/^(?!static\b|extern\b|typedef\b|#)[A-Za-z_][^;{}()=\n]*?\b(mb_\w+)\s*\(/gm)) {
    let i = m.index + m[0].length, depth = 1;
    while (i < s.length && depth) { if (s[i] === '(') depth++; else if (s[i] === ')') depth--; i++; }
    const rest = s.slice(i).trimStart();
    if (rest.startsWith('{') && !defs.has(m[1])) defs.set(m[1], f);
  }
  // globals: `type *mb_x, *mb_y[N];` at column 0, not static/extern
  for (const m of s.matchAll(/^(?!static\b|extern\b|typedef\b|return\b|#)[A-Za-z_][\w \t*]*\bmb_\w+[^;(){}]*;/gm))
    for (const n of m[0].matchAll(/\b(mb_\w+)\b/g)) if (!defs.has(n[1])) defs.set(n[1], f);
}
const callEdges = new Map(), callWhy = new Map();
for (const f of rtC) {
  callEdges.has(rel(f)) || callEdges.set(rel(f), new Set());
  for (const m of stripped.get(f).matchAll(/\b(mb_\w+)\b/g)) {
    const d = defs.get(m[1]);
    if (d && d !== f) addEdge(callEdges, rel(f), rel(d), `${path.basename(f)} uses ${m[1]}`, callWhy);
  }
}
report('call', callEdges, callWhy);

// ---- graph 3: modules (folder -> folders of the modules it requires); a cycle could not start
const modEdges = new Map(), modWhy = new Map();
for (const [dir, set] of declared) {
  modEdges.has('modules/' + dir) || modEdges.set('modules/' + dir, new Set());
  for (const r of set)
    if (folderOfModule.has(r))
      addEdge(modEdges, 'modules/' + dir, 'modules/' + folderOfModule.get(r), `requires "${r}"`, modWhy);
}
report('module', modEdges, modWhy);

// ---- rules 3 and 4
for (const [f, list] of includes) {
  const r = rel(f), mod = moduleOf(f);
  for (const h of list) {
    const hm = moduleOf(h), hr = rel(h), base = path.basename(h);
    if (!mod) {
      if (hm && r !== 'runtime/main.c') errors.push(`${r}: includes module header ${hr} (only runtime/main.c may)`);
      if (hr === 'runtime/server.h' && !/^runtime\/(core\.[ch]|main\.c)$/.test(r))
        errors.push(`${r}: includes server.h (the modules' umbrella); include the headers it needs`);
    } else if (!hm) {
      if (RUNTIME_PRIVATE.test(base) && path.dirname(hr).startsWith('runtime'))
        errors.push(`${r}: includes runtime-private ${hr}`);
    } else if (hm !== mod) {
      const names = [...folderOfModule].filter(([, d]) => d === hm).map(([n]) => n);
      if (!mayUse(mod, hm))
        errors.push(`${r}: includes ${hr} of module ${names.join('/') || hm}, which modules/${mod} does not declare ` +
                    `(add it to .requires = MB_REQUIRES(...) of its mb_module record)`);
      else if (/_internal\.h$/.test(base))
        errors.push(`${r}: includes ${hr}, private to modules/${hm} (use its public header)`);
    }
  }
}

for (const k of known) console.log('lint-deps: ' + k);
const nInc = [...includes.values()].reduce((a, l) => a + l.length, 0);
if (errors.length) {
  for (const e of errors) console.log('lint-deps: ' + e);
  console.log(`lint-deps: ${errors.length} problem(s)`);
  process.exit(1);
}
const nReq = [...declared.values()].reduce((a, s) => a + s.size, 0);
console.log(`lint-deps: ok (${folderOfModule.size} modules in ${declared.size} folders, ${nReq} declared requires; ${files.length} files, ${incEdges.size} include units, ${nInc} includes; ` +
            `${callEdges.size} runtime .c files, ${defs.size} mb_* definitions; ${known.length ? `no cycle besides the ${known.length} known` : 'no cycle'})`);

// ---- --self-test: the rules catch what they should (runs this script on a patched copy)
function selfTest() {
  const os = require('os');
  const { spawnSync } = require('child_process');
  const root = path.resolve(__dirname, '..');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lint-deps-'));
  const run = () => spawnSync(process.execPath, [__filename], {
    env: { ...process.env, MB_LINT_DEPS_ROOT: tmp }, encoding: 'utf8' });
  let failures = 0;
  const expect = (what, ok) => { console.log(`lint-deps self-test: ${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) failures++; };
  try {
    for (const d of ['runtime', 'modules']) fs.cpSync(path.join(root, d), path.join(tmp, d), { recursive: true });
    let r = run();
    expect('the unmodified tree passes', r.status === 0);
    // admin declares "match" and "cluster": an include of chat.h is undeclared
    const victim = path.join(tmp, 'modules/admin/admin.c');
    const orig = fs.readFileSync(victim, 'utf8');
    fs.writeFileSync(victim, orig.replace(/^(#include "[^"]+"\n)/m, '$1#include "chat.h"\n'));
    r = run();
    expect('an include of an undeclared module fails',
      r.status === 1 && /admin\.c: includes modules\/chat\/chat\.h of module chat, which modules\/admin does not declare/.test(r.stdout));
    // declaring it makes the same include pass
    fs.writeFileSync(victim, fs.readFileSync(victim, 'utf8').replace('MB_REQUIRES("match", "cluster")', 'MB_REQUIRES("match", "cluster", "chat")'));
    r = run();
    expect('the same include passes once declared in .requires', r.status === 0);
    fs.writeFileSync(victim, orig);
    // two modules requiring each other
    const vote = path.join(tmp, 'modules/vote/vote_module.c');
    const match = path.join(tmp, 'modules/match/match_module.c');
    const matchOrig = fs.readFileSync(match, 'utf8');
    fs.writeFileSync(match, matchOrig.replace('.name = "match",', '.name = "match",\n    .requires = MB_REQUIRES("vote"),'));
    r = run();
    expect('a cycle of requires fails', r.status === 1 && /module cycle between modules\/match, modules\/vote/.test(r.stdout) && fs.existsSync(vote));
    fs.writeFileSync(match, matchOrig);
    // a private header of a declared module
    fs.writeFileSync(victim, orig.replace(/^(#include "[^"]+"\n)/m, '$1#include "match_internal.h"\n'));
    r = run();
    expect('a declared module\'s *_internal.h fails', r.status === 1 && /private to modules\/match/.test(r.stdout));
    fs.writeFileSync(victim, orig);
    // runtime/ including a module header
    const rt = path.join(tmp, 'runtime/core.c');
    fs.writeFileSync(rt, fs.readFileSync(rt, 'utf8').replace(/^(#include "[^"]+"\n)/m, '$1#include "match.h"\n'));
    r = run();
    expect('runtime/core.c including match.h fails', r.status === 1 && /core\.c: includes module header/.test(r.stdout));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`lint-deps self-test: ${failures ? failures + ' failed' : 'all passed'}`);
  return failures ? 1 : 0;
}
