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
// Rule 3: runtime/ includes no module header, except runtime/main.c; and no runtime .c includes
//   the modules' umbrella server.h (core.c/core.h/main.c at the top may).
// Rule 4: a module includes runtime headers (not *_internal.h, core.h, transport.h), headers of
//   its own folder, and headers of another module only when ALLOWED below lists the pair.
'use strict';
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const rel = (p) => path.relative(ROOT, p);

// Cross-module includes in use today (issue 13 item 2 will turn these into declared module
// dependencies). Key: the including module; value: modules whose headers it may include.
const ALLOWED = {
  account: ['match'],            // lifecycle.c: leave matches when an account is deleted
  admin: ['match'],              // admin.c, history.c: match views
  chat: ['match', 'social'],     // match chat channel; friends/blocks
  leaderboard: ['match'],        // lb_lua.c: modes.h, match.h (moonbase.leaderboard.* and call contexts)
  match: ['vote'],               // simulate.c runs the vote tally (tally.h, pure library)
  matchmaker: ['match'],         // creates matches
  social: ['match'],             // social.c: modes.h (moonbase.notify in match scripts)
  vote: ['match'],               // match hooks (match.h)
};
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
    } else if (hm !== mod && !(ALLOWED[mod] || []).includes(hm)) {
      errors.push(`${r}: includes ${hr} of module ${hm}, not in ${mod}'s allow-list (tools/lint-deps.js ALLOWED)`);
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
console.log(`lint-deps: ok (${files.length} files, ${incEdges.size} include units, ${nInc} includes; ` +
            `${callEdges.size} runtime .c files, ${defs.size} mb_* definitions; ${known.length ? `no cycle besides the ${known.length} known` : 'no cycle'})`);
