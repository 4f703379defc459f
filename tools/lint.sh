#!/usr/bin/env bash
# Enforced conventions (docs/DEVELOPING.md, "make lint"). `make lint` and tools/test.sh call this.
#
#   tools/lint.sh [STEP...]     every step, or only the named ones: deps prototypes cppcheck format
#                               conventions
#
# Steps (each reports PASS/FAIL; a failing step does not stop the later ones):
#   deps        tools/lint-deps.js: no include cycle between file units (x.c + x.h + x_internal.h),
#               no call cycle between runtime .c files, runtime/ includes no module header (except
#               main.c) nor the modules' umbrella server.h, modules include only runtime headers,
#               their own and the public headers of the modules their mb_module records declare
#               (.requires = MB_REQUIRES(...)); then --self-test (an undeclared include is caught)
#   prototypes  every .c of build/compile_commands.json under runtime/, modules/, tests/ compiled
#               with -fsyntax-only -Werror=missing-prototypes (a global function needs a
#               prototype in a header: no hand-copied declarations in .c files)
#   cppcheck    cppcheck --enable=warning,portability over runtime/ and modules/ (why this set:
#               see below)
#   format      clang-format --dry-run --Werror (.clang-format) over every tracked .c/.h
#   conventions tools/lint-conventions.js: success/failure and freeing conventions
#               (docs/DEVELOPING.md "Conventions"): no Lua binding returns false + message, no
#               int *code, no int/bool return beside an error-text buffer, x_free/x_destroy names
#
# Environment: MOONBASE_BUILD_DIR (build) for compile_commands.json; MOONBASE_LINT_FORMAT=0
# skips the format step.
# Last line: "lint: N passed, N failed" (steps).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
BUILD=${MOONBASE_BUILD_DIR:-build}
JOBS=${MOONBASE_JOBS:-$(nproc 2>/dev/null || echo 2)}
STEPS=("$@")
((${#STEPS[@]})) || STEPS=(deps prototypes cppcheck format conventions)

PASS=0 FAIL=0 RESULTS=()
run() { # NAME CMD...
    local name=$1
    shift
    printf -- '---- lint %s\n' "$name"
    if "$@"; then
        PASS=$((PASS + 1)) RESULTS+=("PASS  $name")
    else
        FAIL=$((FAIL + 1)) RESULTS+=("FAIL  $name")
    fi
}

step_deps() { node tools/lint-deps.js && node tools/lint-deps.js --self-test; }
step_conventions() { node tools/lint-conventions.js; }

step_prototypes() {
    local cc=$BUILD/compile_commands.json
    if [[ ! -f $cc ]]; then
        echo "prototypes: $cc missing: configuring $BUILD (cmake --preset default)"
        cmake --preset default -B "$BUILD" >/dev/null || return 1
    fi
    # Re-run each recorded compile command with -fsyntax-only (no objects written).
    node - "$cc" "$ROOT" "$JOBS" <<'EOF'
const fs = require('fs'), path = require('path'), { spawn } = require('child_process');
const [cc, root, jobs] = process.argv.slice(2);
const seen = new Set();
const entries = JSON.parse(fs.readFileSync(cc, 'utf8')).filter((e) => {
  const r = path.relative(root, path.resolve(e.directory, e.file));
  if (!/^(runtime|modules|tests)\//.test(r) || seen.has(r)) return false;
  seen.add(r); e.rel = r; return true;
});
const split = (s) => (s.match(/(?:[^\s"']+|"(?:\\.|[^"])*"|'[^']*')+/g) || []).map((a) => a.replace(/^"(.*)"$/, '$1').replace(/\\"/g, '"'));
let bad = 0, i = 0, running = 0;
function next() {
  if (i >= entries.length) { if (!running) done(); return; }
  const e = entries[i++];
  const argv = e.arguments || split(e.command);
  const out = [];
  for (let k = 0; k < argv.length; k++) {
    if (argv[k] === '-o') { k++; continue; }
    if (argv[k] === '-c' || argv[k] === '-Werror') continue;
    out.push(argv[k]);
  }
  out.push('-fsyntax-only', '-Wmissing-prototypes', '-Werror=missing-prototypes');
  running++;
  const p = spawn(out[0], out.slice(1), { cwd: e.directory, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => { err += d; });
  p.on('close', (code) => {
    running--;
    const mp = err.split('\n').filter((l) => /missing-prototypes/.test(l));
    if (code !== 0 || mp.length) { bad++; console.log(`prototypes: ${e.rel}\n${mp.length ? mp.join('\n') : err}`); }
    next();
  });
}
function done() {
  console.log(`prototypes: ${entries.length} files, ${bad} with problems`);
  process.exit(bad ? 1 : 0);
}
for (let k = 0; k < Math.max(1, +jobs); k++) next();
EOF
}

# Check set: `error` (always on: out-of-bounds, null dereference, leaks, use of freed or
# uninitialised memory), `warning` (likely bugs: wrong printf arguments, unchecked realloc
# results, suspicious conditions) and `portability` (undefined or implementation-defined
# behaviour across platforms: pointer/int casts, shifts). Left out: `style` and `performance`
# (taste, and they overlap -Wall -Wextra and clang-format), `information` (cppcheck's own
# configuration notes). A false positive gets an inline `// cppcheck-suppress <id>` with a
# comment saying why it is safe.
step_cppcheck() {
    local inc=(-I runtime -I runtime/lua) d
    for d in modules/*/; do inc+=(-I "${d%/}"); done
    cppcheck -q --std=c11 -D_GNU_SOURCE --enable=warning,portability --inline-suppr \
        --suppress=missingIncludeSystem --error-exitcode=1 -j"$JOBS" \
        --template='{file}:{line}: {severity}: {message} [{id}]' "${inc[@]}" runtime modules
    local rc=$?
    ((rc == 0)) && echo "cppcheck: no finding (warning, portability, error)"
    return "$rc"
}

step_format() {
    if [[ ${MOONBASE_LINT_FORMAT:-1} == 0 ]]; then
        echo "format: skipped (MOONBASE_LINT_FORMAT=0)"
        return 0
    fi
    local f n=0 lines=0 d
    while IFS= read -r f; do
        d=$(clang-format --style=file "$f" | diff "$f" - | grep -c '^[<>]')
        if ((d)); then
            n=$((n + 1)) lines=$((lines + d))
            echo "format: $f ($d lines differ)"
        fi
    done < <(git ls-files '*.c' '*.h')
    if ((n)); then
        echo "format: $n files differ from .clang-format ($lines diff lines): run \`make format\`"
        return 1
    fi
    echo "format: every tracked .c/.h matches .clang-format"
}

for s in "${STEPS[@]}"; do
    case $s in
        deps | prototypes | cppcheck | format | conventions) run "$s" "step_$s" ;;
        *)
            echo "lint: unknown step '$s' (deps prototypes cppcheck format conventions)" >&2
            exit 2
            ;;
    esac
done
echo "---- lint summary"
printf '  %s\n' "${RESULTS[@]}"
echo "lint: $PASS passed, $FAIL failed"
((FAIL == 0))
