#!/usr/bin/env node
'use strict';
// tools/lint-sources.js: source checks of the C tree (runtime/ and modules/) that need no build.
// tools/test.sh runs it as its own step ("lint sources"); run it alone with
//   node tools/lint-sources.js        (exit 1 when a check fails)
//
// Checks (moved here from tests/integration/security.test.js):
//   sql-printf      no printf-style call formats SQL (a format string with SQL keywords and a
//                   conversion, or strcat of SQL)
//   sql-literal     every statement handed to PostgreSQL is a literal (or a static const char[]
//                   literal of the same file)
//   sql-allow-stale the allow-list below has no stale entries (each exception still exists)
//   self-test       the scanner finds string-built SQL in a sample
//   const-time      secrets are compared in constant time (jwt.c: crypto_verify_32; http.c admin
//                   token: sodium_memcmp)
// The last line is "lint: N passed, N failed" (counted by tools/test.sh).
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

function* walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}

/** C text with comments blanked (string and char literals kept). */
function stripComments(src) {
  let out = '';
  for (let i = 0; i < src.length; ) {
    const c = src[i];
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      out += src.slice(i, j + 1);
      i = j + 1;
    } else if (src.startsWith('/*', i)) {
      const j = src.indexOf('*/', i + 2);
      const end = j < 0 ? src.length : j + 2;
      out += src.slice(i, end).replace(/[^\n]/g, ' ');
      i = end;
    } else if (src.startsWith('//', i)) {
      const j = src.indexOf('\n', i);
      const end = j < 0 ? src.length : j;
      out += ' '.repeat(end - i);
      i = end;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Calls of `names` in C text: [{name, args: [text...], line}] (arguments split at top-level commas). */
function calls(text, names) {
  const res = [];
  const re = new RegExp(`\\b(${names.join('|')})\\s*\\(`, 'g');
  for (let m; (m = re.exec(text)); ) {
    // skip declarations/definitions: the name preceded by a type (e.g. "void mb_db_query(")
    const before = text.slice(Math.max(0, m.index - 40), m.index);
    if (/\b(void|char|int|static|const|mb_status|size_t)\s*\*?\s*$/.test(before)) continue;
    let depth = 0;
    let i = m.index + m[0].length;
    let cur = '';
    const args = [];
    for (; i < text.length; i++) {
      const c = text[i];
      if (c === '"' || c === "'") {
        let j = i + 1;
        while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
        cur += text.slice(i, j + 1);
        i = j;
        continue;
      }
      if (c === '(' || c === '[' || c === '{') depth++;
      if (c === ')' || c === ']' || c === '}') {
        if (depth === 0) break;
        depth--;
      }
      if (c === ',' && depth === 0) {
        args.push(cur.trim());
        cur = '';
        continue;
      }
      cur += c;
    }
    args.push(cur.trim());
    res.push({ name: m[1], args, line: text.slice(0, m.index).split('\n').length });
  }
  return res;
}

const SQL_WORDS = /\b(SELECT|INSERT\s+INTO|UPDATE|DELETE\s+FROM|DELETE|WITH|CREATE|DROP|ALTER|TRUNCATE|WHERE|VALUES|ORDER\s+BY)\b/;
const CONVERSION = /%[-+ #0]*(\d+|\*)?(\.(\d+|\*))?(hh|h|ll|l|z|j|t|L)?[sdiuxXcfeEgGp]/;
const literals = (arg) => (arg.match(/"(\\.|[^"\\])*"/g) || []).map((s) => s.slice(1, -1)).join('');

// Reviewed exceptions: file, function called, and the exact format/argument text. Each is a
// finding (reported), kept only so that the check fails on anything NEW.
const SQL_ALLOW = [
  { file: 'modules/social/social.c', name: 'mb_db_query', text: 'u->delete_sql', why: 'undo_pump: one fixed DELETE statement per table, from the static undo[] list' },
  { file: 'runtime/db.c', name: 'mb_db_query', text: 'd->sql', why: 'the durable queue replays the SQL text it was given (a static statement of the caller)' },
  { file: 'runtime/db.c', name: 'PQsendQueryParams', text: 'q->sql', why: 'the pool sends the copy of the statement mb_db_query was given' },
  { file: 'runtime/db.c', name: 'PQexec', text: 'sql', why: 'migrations: the contents of migrations/*.sql, run at start-up' },
];

const sources = [];
for (const dir of ['runtime', 'modules']) {
  for (const file of walk(path.join(ROOT, dir))) {
    if (/\.(c|h)$/.test(file)) sources.push({ rel: path.relative(ROOT, file), text: stripComments(fs.readFileSync(file, 'utf8')) });
  }
}
const allowed = (rel, name, text) => SQL_ALLOW.find((a) => a.file === rel && a.name === name && a.text === text);
const used = new Set();

// Each check returns a list of findings (empty: passed).
const checks = {
  'sql-printf: no printf-style call formats SQL (a format string with SQL keywords and a conversion)': () => {
    const found = [];
    for (const { rel, text } of sources) {
      for (const c of calls(text, ['sprintf', 'snprintf', 'vsprintf', 'vsnprintf', 'asprintf', 'vasprintf', 'mb_sprintf', 'mb_buf_printf', 'strcat', 'strncat'])) {
        const fmt = c.args.map(literals).join(' ');
        if (!SQL_WORDS.test(fmt) || !(CONVERSION.test(fmt) || /strn?cat/.test(c.name))) continue;
        const a = allowed(rel, c.name, literals(c.args.find((x) => SQL_WORDS.test(literals(x))) || ''));
        if (a) {
          used.add(a);
          continue;
        }
        found.push(`${rel}:${c.line}: ${c.name}("${fmt}"): string-built SQL`);
      }
    }
    return found;
  },

  'sql-literal: every statement handed to PostgreSQL is a literal (or a static const char[] literal of the same file)': () => {
    const found = [];
    let n = 0;
    for (const { rel, text } of sources) {
      const statics = new Set([...text.matchAll(/static\s+const\s+char\s+(\w+)\s*\[\s*\]\s*=\s*"/g)].map((m) => m[1]));
      const targets = { mb_db_query: 0, mb_db_durable: 1, PQexec: 1, PQexecParams: 1, PQsendQuery: 1, PQsendQueryParams: 1, PQprepare: 2, PQsendPrepare: 2 };
      for (const c of calls(text, Object.keys(targets))) {
        const arg = c.args[targets[c.name]];
        if (arg === undefined) continue;
        n++;
        // literal pieces and literal-producing macros only: "..." ACCOUNT_COLS SOCIAL_TS("x")
        const rest = arg.replace(/"(\\.|[^"\\])*"/g, '').replace(/\b[A-Z][A-Z0-9_]*\s*(\([^()]*\))?/g, '').trim();
        if (rest === '' || statics.has(arg)) continue;
        const a = allowed(rel, c.name, arg);
        if (a) {
          used.add(a);
          continue;
        }
        found.push(`${rel}:${c.line}: ${c.name}(${arg}, ...): statement built at run time`);
      }
    }
    if (n < 20) found.push(`found only ${n} statements: the scan is broken`);
    return found;
  },

  // after the two scans above (they fill `used`)
  'sql-allow-stale: the allow-list has no stale entries (each exception still exists)': () =>
    SQL_ALLOW.filter((a) => !used.has(a)).map((a) => `${a.file} ${a.name}(${a.text}): no longer found, remove it from SQL_ALLOW`),

  'self-test: the scan catches string-built SQL': () => {
    const found = [];
    const sample = stripComments(`
      /* mb_sprintf("SELECT %s", x) in a comment is fine */
      char *q = mb_sprintf("SELECT * FROM accounts WHERE name = '%s'", name);
      snprintf(buf, sizeof buf, "DELETE FROM t "
               "WHERE id = %d", id);
      mb_db_query(q, 0, NULL, cb, NULL);
      mb_db_query("SELECT 1 FROM t WHERE a = $1", 1, p, cb, NULL);`);
    const fmts = calls(sample, ['mb_sprintf', 'snprintf']).map((c) => c.args.map(literals).join(' ')).filter((f) => SQL_WORDS.test(f) && CONVERSION.test(f));
    if (fmts.length !== 2) found.push(`expected 2 SQL formats in the sample, found ${JSON.stringify(fmts)}`);
    const q = calls(sample, ['mb_db_query']).map((c) => c.args[0]);
    if (JSON.stringify(q) !== JSON.stringify(['q', '"SELECT 1 FROM t WHERE a = $1"'])) found.push(`statements in the sample: ${JSON.stringify(q)}`);
    return found;
  },

  'const-time: secrets are compared in constant time (jwt.c: crypto_verify_32; http.c admin token: sodium_memcmp)': () => {
    const found = [];
    const src = (rel) => (sources.find((s) => s.rel === rel) || { text: '' }).text;
    const jwt = src('runtime/jwt.c');
    const http = src('runtime/http.c');
    if (!/crypto_verify_32\s*\(/.test(jwt)) found.push('runtime/jwt.c: no crypto_verify_32( call');
    if (/\b(memcmp|strcmp|strncmp)\s*\(\s*(sig|mac)\b/.test(jwt)) found.push('runtime/jwt.c: a signature compared with memcmp/strcmp');
    if (!/sodium_memcmp\s*\(\s*tok\s*,\s*admin/.test(http)) found.push('runtime/http.c: the admin token is not compared with sodium_memcmp(tok, admin...)');
    if (/\b(strcmp|strncmp|memcmp)\s*\(\s*tok\s*,\s*admin/.test(http)) found.push('runtime/http.c: the admin token compared with strcmp/memcmp');
    return found;
  },
};

let pass = 0;
let fail = 0;
for (const [name, check] of Object.entries(checks)) {
  let found;
  try {
    found = check();
  } catch (e) {
    found = [`the check threw: ${e.stack || e}`];
  }
  if (found.length === 0) {
    pass++;
    console.log(`ok    ${name}`);
  } else {
    fail++;
    console.log(`FAIL  ${name}`);
    for (const f of found) console.log(`      ${f}`);
  }
}
console.log(`lint: ${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
