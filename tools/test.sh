#!/usr/bin/env bash
# Every Moonbase test suite, against a real PostgreSQL. `make test` and .ci/run call this.
#
#   tools/test.sh [all]                     everything, in the order below (default)
#   tools/test.sh unit                      steps 1-2, 4-6 (C unit tests, both trees, valgrind)
#   tools/test.sh integration [FILE...]     steps 1-3, 7-8 (Node suites; only FILEs if given)
#   tools/test.sh bench                     bench_* executables and tests/bench/*.sh
#   tools/test.sh fuzz                      fuzz_* targets that are built (see docs/DEVELOPING.md)
#   tools/test.sh lint                      step 1b only (source checks, no build)
#
# Order of `all`:
#   1. tools/install-deps.sh
#   1b. tools/lint-sources.js (source checks of runtime/ and modules/: SQL built from literals
#       only, secrets compared in constant time); needs no build
#   2. build build/ (preset default) and build-asan/ (preset asan)
#   3. a throwaway PostgreSQL cluster in a mktemp dir on a free port (always removed at exit)
#   3b. tools/lint.sh (`make lint`: dependency rules, prototypes, cppcheck, clang-format)
#   4. ctest in build/            5. ctest in build-asan/ (ASan + UBSan)
#   6. valgrind over the ctest tests labelled `valgrind` (build/)
#   7. node --test over tests/**/*.test.js, sdk/**, console/** with MOONBASE_BIN=build/moonbase
#   8. the same with MOONBASE_BIN=build-asan/moonbase
# A failing step does not stop the later ones (except 1 and 3); the exit status is non-zero
# when any step failed, and the last line is "summary: N passed, N failed" (tests counted).
#
# Environment:
#   MOONBASE_BUILD_DIR, MOONBASE_ASAN_BUILD_DIR  build folders (build, build-asan)
#   MOONBASE_TEST_ASAN=0        skip the sanitizer tree (quicker local loop; CI runs it)
#   MOONBASE_VALGRIND=all       run every ctest test under valgrind, not only label `valgrind`
#   MOONBASE_TEST_CONCURRENCY   node test files run at once (default: number of cores)
#   MOONBASE_TEST_NAME_PATTERN  passed to node --test-name-pattern
#   MOONBASE_TEST_TIMEOUT       seconds for one node run (default 1200)
#   MOONBASE_TEST_CASE_TIMEOUT_MS  one test (it/describe) at most (default 180000; Node >= 20.11)
#   MOONBASE_FUZZ_SECONDS       seconds per libFuzzer target (default 30)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
MODE=${1:-all}; shift || true
FILES=("$@")
BUILD=${MOONBASE_BUILD_DIR:-build}
ASAN_BUILD=${MOONBASE_ASAN_BUILD_DIR:-build-asan}
JOBS=${MOONBASE_JOBS:-$(nproc 2>/dev/null || echo 2)}
WANT_ASAN=${MOONBASE_TEST_ASAN:-1}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

case $MODE in all|unit|integration|bench|fuzz|lint) ;; *)
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac

case $MODE in bench|fuzz|lint) logname=$MODE-logs ;; *) logname=test-logs ;; esac
LOGDIR=$ROOT/$BUILD/$logname
[[ $BUILD == /* ]] && LOGDIR=$BUILD/$logname
rm -rf "$LOGDIR"; mkdir -p "$LOGDIR"
export MOONBASE_TEST_LOG_DIR=$LOGDIR
export MOONBASE_TEST_PID_FILE=$LOGDIR/server.pids
: >"$MOONBASE_TEST_PID_FILE"

# ---- bookkeeping ---------------------------------------------------------------------------
STEPS=() STATUS=() DETAIL=()
TOTAL_PASS=0 TOTAL_FAIL=0
FAILED=0
banner() { printf '\n==== %s ====\n' "$*"; }

# record NAME RC LOGFILE: count tests from the runner's closing lines in LOGFILE.
record() {
  local name=$1 rc=$2 log=${3:-} p=0 f=0 c=0 line
  if [[ -n $log && -f $log ]]; then
    # ctest: "NN% tests passed, F tests failed out of T"
    if line=$(grep -aE '[0-9]+ tests? failed out of [0-9]+' "$log" | tail -n1) && [[ -n $line ]]; then
      f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
      p=$(( $(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line") - f ))
    fi
    # node --test (spec: "ℹ pass N", tap: "# pass N")
    if grep -aqE '^(ℹ|#) pass [0-9]+' "$log"; then
      p=$(grep -aE '^(ℹ|#) pass [0-9]+' "$log" | tail -n1 | grep -oE '[0-9]+$')
      f=$(grep -aE '^(ℹ|#) fail [0-9]+' "$log" | tail -n1 | grep -oE '[0-9]+$' || echo 0)
      c=$(grep -aE '^(ℹ|#) cancelled [0-9]+' "$log" | tail -n1 | grep -oE '[0-9]+$' || echo 0)
      f=$((f + c))
    fi
    # our own loops: "valgrind: N passed, N failed"
    if line=$(grep -aE '^(valgrind|bench|fuzz|lint): [0-9]+ passed, [0-9]+ failed' "$log" | tail -n1) && [[ -n $line ]]; then
      p=$(sed -E 's/^[a-z]+: ([0-9]+) passed.*/\1/' <<<"$line")
      f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
    fi
  fi
  if (( rc != 0 && f == 0 )); then f=1; fi   # a step that failed without failing tests
  TOTAL_PASS=$((TOTAL_PASS + p)); TOTAL_FAIL=$((TOTAL_FAIL + f))
  STEPS+=("$name")
  if (( p + f )); then DETAIL+=("$p passed, $f failed"); else DETAIL+=(""); fi
  if (( rc == 0 )); then STATUS+=(PASS); else STATUS+=(FAIL); FAILED=1; fi
}
skip() { STEPS+=("$1"); STATUS+=(SKIP); DETAIL+=("$2"); }
fail_step() { STEPS+=("$1"); STATUS+=(FAIL); DETAIL+=("$2"); FAILED=1; TOTAL_FAIL=$((TOTAL_FAIL + 1)); }

# step NAME CMD...: run with output shown and kept in $LOGDIR/NAME.log, then record.
step() {
  local name=$1; shift
  local log=$LOGDIR/${name//[^A-Za-z0-9_.-]/_}.log
  banner "$name"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  record "$name" "$rc" "$log"
  return "$rc"
}

summary() {
  banner "summary"
  local i
  for i in "${!STEPS[@]}"; do
    printf '  %-4s  %-34s %s\n' "${STATUS[$i]}" "${STEPS[$i]}" "${DETAIL[$i]}"
  done
  echo "  logs: $LOGDIR"
  echo "summary: $TOTAL_PASS passed, $TOTAL_FAIL failed"
}

# ---- PostgreSQL ------------------------------------------------------------------------------
PGDIR=""
cleanup() {
  local pid
  # Servers a crashed test run left behind (the harness records their pids).
  if [[ -s ${MOONBASE_TEST_PID_FILE:-} ]]; then
    while read -r pid; do
      [[ $pid =~ ^[0-9]+$ ]] || continue
      if grep -qa moonbase "/proc/$pid/cmdline" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    done <"$MOONBASE_TEST_PID_FILE"
  fi
  if [[ -n $PGDIR ]]; then
    tools/pg.sh destroy "$PGDIR" >/dev/null 2>&1 || true
    PGDIR=""
  fi
}
trap cleanup EXIT
trap 'echo "test.sh: interrupted" >&2; exit 130' INT TERM

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

start_pg() {
  PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/moonbase-test-pg.XXXXXX")
  chmod 0755 "$PGDIR"
  local port
  for _ in 1 2 3; do
    port=$(free_port)
    if MOONBASE_PG_FAST=1 tools/pg.sh start "$PGDIR" "$port"; then
      export MOONBASE_TEST_PG_DIR=$PGDIR
      MOONBASE_TEST_DATABASE_URL=$(tools/pg.sh url "$PGDIR" postgres)
      export MOONBASE_TEST_DATABASE_URL
      echo "test PostgreSQL: $MOONBASE_TEST_DATABASE_URL ($PGDIR)"
      return 0
    fi
    tools/pg.sh destroy "$PGDIR" >/dev/null 2>&1 || true
    PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/moonbase-test-pg.XXXXXX"); chmod 0755 "$PGDIR"
  done
  return 1
}

# ---- steps -----------------------------------------------------------------------------------
run_ctest() { # DIR
  ctest --test-dir "$1" --output-on-failure -j"$JOBS" --timeout 600
}

# Run the ctest tests labelled `valgrind` (or all) under valgrind, one at a time.
run_valgrind() { # DIR
  local dir=$1 json=$LOGDIR/ctest-valgrind.json
  local sel=(-L '^valgrind$')
  [[ ${MOONBASE_VALGRIND:-} == all ]] && sel=()
  ctest --test-dir "$dir" "${sel[@]}" --show-only=json-v1 >"$json" || return 1
  local supp=()
  for f in tests/valgrind.supp tests/unit/valgrind.supp; do [[ -f $f ]] && supp+=("--suppressions=$ROOT/$f"); done
  VG_SUPP="${supp[*]}" node - "$json" <<'EOF'
const fs = require('fs'), { spawnSync } = require('child_process');
const j = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
// --smc-check: LuaJIT writes and patches machine code in anonymous memory (JIT on, vm.h)
const vg = ['--error-exitcode=1', '--leak-check=full', '--errors-for-leak-kinds=definite,indirect',
            '--smc-check=all-non-file',
            '--show-leak-kinds=definite,indirect', '--track-fds=no', '--quiet',
            ...(process.env.VG_SUPP ? process.env.VG_SUPP.split(' ') : [])];
let pass = 0, fail = 0;
const tests = j.tests || [];
if (!tests.length) console.log('valgrind: no ctest test has the label `valgrind` (set LABELS valgrind on a test to add it)');
for (const t of tests) {
  if (!t.command || !t.command.length) continue;
  const props = Object.fromEntries((t.properties || []).map(p => [p.name, p.value]));
  const env = { ...process.env };
  for (const kv of props.ENVIRONMENT || []) { const i = kv.indexOf('='); env[kv.slice(0, i)] = kv.slice(i + 1); }
  const cmd = ['valgrind', ...vg, ...t.command];
  console.log(`valgrind: ${t.name}: ${t.command.join(' ')}`);
  const r = spawnSync(cmd[0], cmd.slice(1), { cwd: props.WORKING_DIRECTORY || undefined, env,
                                              stdio: 'inherit', timeout: 900e3 });
  if (r.status === 0) pass++; else { fail++; console.log(`valgrind: FAIL ${t.name} (exit ${r.status ?? r.signal})`); }
}
console.log(`valgrind: ${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
EOF
}

test_files() {
  if ((${#FILES[@]})); then printf '%s\n' "${FILES[@]}"; return; fi
  local d
  for d in tests sdk console; do
    [[ -d $d ]] && find "$d" -name node_modules -prune -o -type f -name '*.test.js' -print
  done | sort
}

node_flags() {
  local flags=(--test --test-reporter=spec)
  # --test-concurrency exists from Node 20.10, --test-timeout (per test) from 20.11
  if node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=11)?0:1)'; then
    flags+=("--test-concurrency=${MOONBASE_TEST_CONCURRENCY:-$JOBS}")
    flags+=("--test-timeout=${MOONBASE_TEST_CASE_TIMEOUT_MS:-180000}")
  fi
  [[ -n ${MOONBASE_TEST_NAME_PATTERN:-} ]] && flags+=("--test-name-pattern=$MOONBASE_TEST_NAME_PATTERN")
  printf '%s\n' "${flags[@]}"
}

run_node() { # BUILD_DIR
  local bin=$ROOT/$1/moonbase
  [[ $1 == /* ]] && bin=$1/moonbase
  if [[ ! -x $bin ]]; then echo "no server binary at $bin (did the build produce it?)"; return 1; fi
  local files flags
  mapfile -t files < <(test_files)
  if ((${#files[@]} == 0)); then echo "no *.test.js files found"; return 1; fi
  mapfile -t flags < <(node_flags)
  echo "MOONBASE_BIN=$bin node ${flags[*]} ${files[*]}"
  MOONBASE_BIN=$bin timeout --kill-after=30 "${MOONBASE_TEST_TIMEOUT:-1200}" node "${flags[@]}" "${files[@]}"
}

# A bench script that exits 77 did not run (it says why, e.g. match-sweep.sh without
# MOONBASE_BENCH_SWEEP=1): counted as skipped, never as passed.
run_bench() {
  local n=0 p=0 f=0 s=0 b rc
  while IFS= read -r b; do
    n=$((n + 1)); echo "---- $b"
    (cd "$(dirname "$b")" && "$b"); rc=$?
    if ((rc == 0)); then p=$((p + 1)); elif ((rc == 77)); then s=$((s + 1)); echo "bench: skipped $b"
    else f=$((f + 1)); echo "bench: FAIL $b"; fi
  done < <( { find "$ROOT/$BUILD" -type f -name 'bench_*' -perm -u+x 2>/dev/null
              ls "$ROOT"/tests/bench/*.sh 2>/dev/null; } | sort)
  ((n)) || echo "bench: nothing to run (no bench_* executables in $BUILD/, no tests/bench/*.sh)"
  echo "bench: $p passed, $f failed, $s skipped"
  ((f == 0))
}

run_fuzz() {
  local secs=${MOONBASE_FUZZ_SECONDS:-30} n=0 p=0 f=0 t name corpus
  while IFS= read -r t; do
    n=$((n + 1)); name=$(basename "$t"); corpus=$ROOT/tests/fuzz/corpus/${name#fuzz_}
    [[ -d $corpus ]] || corpus=$ROOT/tests/fuzz/corpus/$name
    if grep -aq LLVMFuzzerRunDriver "$t" 2>/dev/null || grep -aq 'libFuzzer' "$t" 2>/dev/null; then
      echo "fuzz: $name: libFuzzer for ${secs}s${corpus:+ (seed corpus ${corpus#"$ROOT"/} if present)}"
      local work; work=$(mktemp -d)
      local args=("-max_total_time=$secs" "-artifact_prefix=$LOGDIR/$name-" "$work")
      [[ -d $corpus ]] && args+=("$corpus")
      if "$t" "${args[@]}"; then p=$((p + 1)); else f=$((f + 1)); echo "fuzz: FAIL $name (crash input under $LOGDIR)"; fi
      rm -rf "$work"
    elif [[ -d $corpus ]]; then
      echo "fuzz: $name: replaying the seed corpus ${corpus#"$ROOT"/} (not a libFuzzer build)"
      if "$t" "$corpus"/*; then p=$((p + 1)); else f=$((f + 1)); echo "fuzz: FAIL $name"; fi
    else
      echo "fuzz: $name: not a libFuzzer build and no corpus: skipped"
    fi
  done < <(find "$ROOT/$BUILD" "$ROOT/$ASAN_BUILD" "$ROOT/build-fuzz" -type f -name 'fuzz_*' -perm -u+x 2>/dev/null | sort)
  ((n)) || echo "fuzz: no fuzz_* targets are built (looked in $BUILD/, $ASAN_BUILD/, build-fuzz/)"
  echo "fuzz: $p passed, $f failed"
  ((f == 0))
}

# ---- main ------------------------------------------------------------------------------------
banner "deps"
if ! tools/install-deps.sh; then fail_step deps "tools/install-deps.sh failed"; summary; exit 1; fi
skip deps ""; STATUS[-1]=PASS

# ---- source checks (no build needed); `make lint` can call tools/lint-sources.js as well
if [[ $MODE == all || $MODE == lint ]]; then
  step "lint sources" node tools/lint-sources.js
fi
if [[ $MODE == lint ]]; then summary; exit "$FAILED"; fi

BUILD_OK=0 ASAN_OK=0
step "build $BUILD" tools/build.sh default "$BUILD" && BUILD_OK=1
if [[ $WANT_ASAN == 1 && ( $MODE == all || $MODE == unit || $MODE == integration ) ]]; then
  step "build $ASAN_BUILD" tools/build.sh asan "$ASAN_BUILD" && ASAN_OK=1
elif [[ $MODE != bench && $MODE != fuzz ]]; then
  skip "build $ASAN_BUILD" "MOONBASE_TEST_ASAN=0"
fi

if [[ $MODE == all || $MODE == integration || $MODE == bench || $MODE == unit ]]; then
  banner "postgres"
  if ! start_pg; then fail_step postgres "could not start a throwaway cluster"; summary; exit 1; fi
  skip postgres "$MOONBASE_TEST_DATABASE_URL"; STATUS[-1]=PASS
fi

# ---- lint: tools/lint.sh (needs build/compile_commands.json, so after the build); MOONBASE_TEST_LINT=0 skips
if [[ $MODE == all ]]; then
  if [[ ${MOONBASE_TEST_LINT:-1} == 1 ]]; then step lint tools/lint.sh
  else skip lint "MOONBASE_TEST_LINT=0"; fi
fi

if [[ $MODE == all || $MODE == unit ]]; then
  if ((BUILD_OK)); then step "ctest $BUILD" run_ctest "$BUILD"; else skip "ctest $BUILD" "build failed"; fi
  if [[ $WANT_ASAN == 1 ]]; then
    if ((ASAN_OK)); then step "ctest $ASAN_BUILD" run_ctest "$ASAN_BUILD"; else skip "ctest $ASAN_BUILD" "build failed"; fi
  fi
  if ((BUILD_OK)); then step "valgrind $BUILD" run_valgrind "$BUILD"; else skip "valgrind $BUILD" "build failed"; fi
fi

if [[ $MODE == all || $MODE == integration ]]; then
  if ((BUILD_OK)); then step "node $BUILD" run_node "$BUILD"; else skip "node $BUILD" "build failed"; fi
  if [[ $WANT_ASAN == 1 ]]; then
    if ((ASAN_OK)); then step "node $ASAN_BUILD" run_node "$ASAN_BUILD"; else skip "node $ASAN_BUILD" "build failed"; fi
  fi
fi

# ---- fuzz: tools/fuzz.sh (tests/fuzz/README.md) with a short budget; MOONBASE_TEST_FUZZ=0 skips
if [[ $MODE == all ]]; then
  if [[ ${MOONBASE_TEST_FUZZ:-1} == 1 ]]; then
    step fuzz env FUZZ_SECONDS="${FUZZ_SECONDS:-${MOONBASE_FUZZ_SECONDS:-30}}" tools/fuzz.sh
  else skip fuzz "MOONBASE_TEST_FUZZ=0"; fi
fi

if [[ $MODE == bench ]]; then
  if ((BUILD_OK)); then
    export MOONBASE_BIN=$ROOT/$BUILD/moonbase
    step bench run_bench
  else skip bench "build failed"; fi
fi
if [[ $MODE == fuzz ]]; then
  step fuzz run_fuzz
fi

summary
exit "$FAILED"
