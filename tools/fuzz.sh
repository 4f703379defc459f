#!/usr/bin/env bash
# Build and run the libFuzzer targets of tests/fuzz/ (clang, ASan + UBSan, coverage of the whole
# tree) for a bounded time each. `make fuzz` runs this with 300 s per target; `make test` (via
# tools/test.sh) with 30 s.
#
#   tools/fuzz.sh [TARGET...]        every fuzz_*.c in tests/fuzz/ by default (TARGET: fuzz_jwt or jwt)
#
# For each target:
#   1. replay tests/fuzz/regressions/<name>/* (inputs that crashed once; they must pass now);
#   2. fuzz for FUZZ_SECONDS with tests/fuzz/corpus/<name>/ as seeds (read only) and
#      build-fuzz/fuzz-corpus/<name>/ as the growing work corpus (kept between runs);
#      tests/fuzz/<name>.dict (libFuzzer dictionary) and <name>.options (extra libFuzzer flags,
#      one per line) are used when present.
# A crash, leak, timeout or out-of-memory input is written to tests/fuzz/regressions/<name>/
# (crash-<sha1>, leak-..., timeout-..., oom-...) and fails the run: fix the bug, then commit the
# file so every later run replays it. Known, reported server bugs are tolerated by the targets
# (see tests/fuzz/README.md); MB_FUZZ_STRICT=1 makes them fail.
#
# Environment:
#   FUZZ_SECONDS        seconds per target (default 300; MOONBASE_FUZZ_SECONDS is read too);
#                       0 = only build and replay regressions and seeds
#   FUZZ_JOBS           targets fuzzed at once (default: number of cores)
#   MB_FUZZ_BUILD_DIR   build folder (default build-fuzz)
#   MB_FUZZ_STRICT=1    known bugs fail too
# Last line: "fuzz: N passed, N failed" (tools/test.sh counts it).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
SECS=${FUZZ_SECONDS:-${MOONBASE_FUZZ_SECONDS:-300}}
JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
BUILD=${MB_FUZZ_BUILD_DIR:-build-fuzz}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
FUZZ_DIR=$ROOT/tests/fuzz
LOGS=$BUILD/fuzz-logs

if ! [[ $SECS =~ ^[0-9]+$ ]]; then echo "fuzz: FUZZ_SECONDS must be a whole number of seconds" >&2; exit 2; fi
if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz: clang is not installed (tools/install-deps.sh installs clang and libclang-rt-14-dev)"
  echo "fuzz: 0 passed, 1 failed"
  exit 1
fi

# ---- targets -------------------------------------------------------------------------------
targets=()
if (($#)); then
  for t in "$@"; do t=${t#fuzz_}; targets+=("fuzz_$t"); done
else
  for f in "$FUZZ_DIR"/fuzz_*.c; do [[ -e $f ]] && targets+=("$(basename "$f" .c)"); done
fi
if ((${#targets[@]} == 0)); then echo "fuzz: no targets in tests/fuzz/"; echo "fuzz: 0 passed, 0 failed"; exit 0; fi

# ---- build ---------------------------------------------------------------------------------
echo "fuzz: building ${targets[*]} in ${BUILD#"$ROOT"/}/ (clang, ASan+UBSan, -fsanitize=fuzzer)"
mkdir -p "$LOGS"
if ! CC=clang cmake -S "$ROOT" -B "$BUILD" --log-level=WARNING \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" \
      -DMB_SANITIZE=ON -DMB_WERROR=OFF -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" >"$LOGS/configure.log" 2>&1 ||
   ! cmake --build "$BUILD" -j"$JOBS" --target "${targets[@]}" >"$LOGS/build.log" 2>&1; then
  tail -n 40 "$LOGS/configure.log" "$LOGS/build.log" 2>/dev/null
  echo "fuzz: the build failed (logs: ${LOGS#"$ROOT"/}/)"
  echo "fuzz: 0 passed, ${#targets[@]} failed"
  exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# ---- run one target (in the background) ----------------------------------------------------
run_target() { # fuzz_x -> writes $LOGS/fuzz_x.log and .rc
  local t=$1 name=${1#fuzz_} bin log rc=0
  log=$LOGS/$t.log
  bin=$(find "$BUILD" -type f -name "$t" -perm -u+x | head -n1)
  : >"$log"
  if [[ -z $bin ]]; then echo "no binary $t in $BUILD" >>"$log"; echo 1 >"$log.rc"; return; fi
  local seeds=$FUZZ_DIR/corpus/$name regs=$FUZZ_DIR/regressions/$name work=$BUILD/fuzz-corpus/$name
  mkdir -p "$work" "$regs"
  # 1. regressions: every file must run clean
  local files=()
  for f in "$regs"/*; do [[ -f $f && $(basename "$f") != README* ]] && files+=("$f"); done
  if ((${#files[@]})); then
    echo "== replay ${#files[@]} regression input(s)" >>"$log"
    local opts=()
    [[ -f $FUZZ_DIR/$name.options ]] && mapfile -t opts < <(grep -v '^#' "$FUZZ_DIR/$name.options" | grep .)
    "$bin" "${opts[@]}" "${files[@]}" >>"$log" 2>&1 || rc=1
  fi
  # 2. fuzz (libFuzzer first runs every seed and work-corpus input)
  if ((rc == 0)); then
    local args=(-max_total_time="$SECS")
    ((SECS == 0)) && args=(-runs=0)
    args+=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$regs/")
    [[ -f $FUZZ_DIR/$name.dict ]] && args+=(-dict="$FUZZ_DIR/$name.dict")
    [[ -f $FUZZ_DIR/$name.options ]] && mapfile -t -O "${#args[@]}" args < <(grep -v '^#' "$FUZZ_DIR/$name.options" | grep .)
    args+=("$work")
    [[ -d $seeds ]] && args+=("$seeds")
    echo "== $bin ${args[*]}" >>"$log"
    timeout --kill-after=30 $((SECS + 300)) "$bin" "${args[@]}" >>"$log" 2>&1 || rc=1
  fi
  echo "$rc" >"$log.rc"
}

# ---- run them, JOBS at a time ---------------------------------------------------------------
start=$(date +%s)
echo "fuzz: ${#targets[@]} target(s), ${SECS}s each, $JOBS at a time"
for t in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= JOBS)); do wait -n; done
  run_target "$t" &
done
wait

pass=0 fail=0
for t in "${targets[@]}"; do
  log=$LOGS/$t.log
  rc=$(cat "$log.rc" 2>/dev/null || echo 1)
  stats=$(grep -aE '^#[0-9]+[[:space:]]+(DONE|INITED)' "$log" | tail -n1 | sed -E 's/^#([0-9]+)[[:space:]]+[A-Z]+[[:space:]]+/\1 runs, /; s/ exec\/s.*//')
  known=$(grep -aoE '^known bug [a-z0-9-]+' "$log" | sort -u | sed 's/^known bug //' | paste -sd, -)
  if [[ $rc == 0 ]]; then
    pass=$((pass + 1))
    printf 'fuzz: PASS %-18s %s%s\n' "$t" "$stats" "${known:+ (tolerated known bugs: $known)}"
  else
    fail=$((fail + 1))
    printf 'fuzz: FAIL %-18s (log %s)\n' "$t" "${log#"$ROOT"/}"
    grep -aE 'invariant failed|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY:' "$log" | head -n 5 | sed 's/^/    /'
    grep -aE 'Test unit written to' "$log" | sed -E 's/.*written to /    input: /' | sed "s|$ROOT/||"
    echo "    reproduce: ${BUILD#"$ROOT"/}/.../$t <input>   (the input stays under tests/fuzz/regressions/${t#fuzz_}/: commit it once fixed)"
  fi
done
echo "fuzz: $(( $(date +%s) - start ))s; logs in ${LOGS#"$ROOT"/}/"
echo "fuzz: $pass passed, $fail failed"
((fail == 0))
