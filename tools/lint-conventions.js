#!/usr/bin/env node
// tools/lint-conventions.js: the success/failure and freeing conventions of docs/DEVELOPING.md
// ("Conventions"), checked from the source text alone (no build needed). Called by
// tools/lint.sh (step `conventions`); exit 1 when a rule is broken, with file:line and the rule.
//
// Over every .c/.h under runtime/ and modules/ (function definitions and prototypes that start
// at column 0, as .clang-format writes them):
//   lua-false    a Lua binding pushes false and then a message (lua_pushboolean(L, 0) followed by
//                lua_push*string): an expected failure returns nil, "message".
//   int-code     an `int *code` out-parameter: a failure kind is a typed enum (mb_errcode *code).
//   err-return   a function with an error-text buffer (char *err/reason/why, size_t ...) that
//                returns int or bool: it returns mb_status (or a status enum), not 0/-1 or false.
//   free-name    x_free takes the object (not void); x_destroy(void) tears a file or module down
//                (an x_destroy with parameters frees one object: call it x_free).
// Over scripts/ (the shipped Lua):
//   lua-return   `return false, "..."`: refuse with `return nil, "..."`.
//
// KNOWN lists the exceptions in the tree today, each with its reason; an entry that no longer
// matches anything is reported (stale) so the list only shrinks.
'use strict';
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const rel = (p) => path.relative(ROOT, p).split(path.sep).join('/');

// "file:function" (or "file:line-text" for lua rules) -> why it is allowed for now.
const KNOWN = {

};

const used = new Set();
const problems = [];
const report = (file, line, rule, msg, key) => {
  if (key && KNOWN[key] !== undefined) {
    used.add(key);
    return;
  }
  problems.push(`${file}:${line}: ${rule}: ${msg}`);
};

function walk(dir, exts, out = []) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, exts, out);
    else if (exts.some((x) => e.name.endsWith(x))) out.push(p);
  }
  return out;
}

const lineOf = (text, idx) => text.slice(0, idx).split('\n').length;
// Comments and string literals blanked (same length, newlines kept), so positions stay valid.
const strip = (t) =>
  t.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'/g, (m) =>
    m[0] === '"' ? '"' + ' '.repeat(m.length - 2) + '"' : m.replace(/[^\n]/g, ' '));

const ERRBUF = /\bchar\s*\*\s*(err|error|reason|why|msg)\s*,\s*size_t\s+\w+/;

function checkC(file) {
  const raw = fs.readFileSync(file, 'utf8');
  const f = rel(file);
  const text = strip(raw);

  // lua-false: pushboolean false, then (next statement) a string push.
  const lf = /lua_pushboolean\(\s*\w+\s*,\s*(0|false)\s*\)\s*;\s*lua_push(string|lstring|fstring|literal|vfstring)\b/g;
  for (let m; (m = lf.exec(text)); ) {
    report(f, lineOf(text, m.index), 'lua-false', 'false followed by a message: return nil, "message" (lua_pushnil)');
  }

  // int-code
  const ic = /\bint\s*\*\s*code\b/g;
  for (let m; (m = ic.exec(text)); ) {
    report(f, lineOf(text, m.index), 'int-code', 'int *code out-parameter: use the enum type (mb_errcode *code)');
  }

  // Function heads at column 0: [static] [inline] TYPE NAME(PARAMS) followed by { or ;
  const head = /^(?:static\s+)?(?:inline\s+)?([A-Za-z_][\w\s]*?[\w\*])\s*\b([A-Za-z_]\w*)\(/gm;
  for (let m; (m = head.exec(text)); ) {
    const type = m[1].replace(/\s+/g, ' ').trim();
    const name = m[2];
    if (/^(typedef|return|if|else|while|for|switch|do|case|struct \w+ \{)$/.test(type) || /[=;]/.test(type)) continue;
    // balanced parameter list
    let i = m.index + m[0].length;
    let depth = 1;
    const start = i;
    while (i < text.length && depth) {
      if (text[i] === '(') depth++;
      else if (text[i] === ')') depth--;
      i++;
    }
    const params = text.slice(start, i - 1).replace(/\s+/g, ' ').trim();
    const after = text.slice(i).match(/^\s*([{;])/);
    if (!after) continue;
    const line = lineOf(text, m.index);
    const key = `${f}:${name}`;
    if ((type === 'int' || type === 'bool') && ERRBUF.test(params) && !/\blua_State\s*\*\s*\w+$/.test(params)) {
      report(f, line, 'err-return', `${type} ${name}(... error text ...): return mb_status (or a status enum)`, key);
    }
    if (/_free$/.test(name) && type === 'void' && params === 'void') {
      report(f, line, 'free-name', `${name}(void) tears state down: call it ${name.replace(/_free$/, '_destroy')}`, key);
    }
    if (/_destroy$/.test(name) && type === 'void' && params !== 'void' && params !== '') {
      report(f, line, 'free-name', `${name}(${params}) frees one object: call it ${name.replace(/_destroy$/, '_free')}`, key);
    }
  }
}

function checkLua(file) {
  const f = rel(file);
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines.forEach((l, i) => {
    const code = l.replace(/--.*$/, '');
    if (/\breturn\s+false\s*,\s*["'[]/.test(code)) {
      report(f, i + 1, 'lua-return', 'return false, "..." : refuse with return nil, "..."', `${f}:${l.trim()}`);
    }
  });
}

const cFiles = [...walk(path.join(ROOT, 'runtime'), ['.c', '.h']), ...walk(path.join(ROOT, 'modules'), ['.c', '.h'])];
cFiles.sort().forEach(checkC);
const luaFiles = walk(path.join(ROOT, 'scripts'), ['.lua']);
luaFiles.sort().forEach(checkLua);

const stale = Object.keys(KNOWN).filter((k) => !used.has(k));
for (const k of Object.keys(KNOWN).filter((k) => used.has(k))) console.log(`conventions: known exception ${k}: ${KNOWN[k]}`);
for (const k of stale) problems.push(`tools/lint-conventions.js: KNOWN entry '${k}' matches nothing any more: remove it`);
for (const p of problems) console.log(p);
console.log(
  `conventions: ${cFiles.length} C files, ${luaFiles.length} Lua files, ${problems.length} problem(s), ${used.size} known exception(s)`,
);
process.exit(problems.length ? 1 : 0);
