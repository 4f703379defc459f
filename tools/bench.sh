#!/usr/bin/env bash
# `make bench`: load-test the real server with tests/bench/loadgen, run the in-process
# benches, print one table, keep the runs in tests/bench/results/.
#
#   tools/bench.sh [SET]                        SET: default (make bench) | quick | sweep | idle | full | cluster | cluster-matchmaker | leaderboard
#   tools/bench.sh run SCENARIO [OPTIONS...]    one loadgen run against a fresh server
#   tools/bench.sh run heavy [OPTIONS...]       the script-heavy pair: bench_heavy matches with
#                                               --lua-jit 1 then 0, CPU per tick and the ratio
#
# Steps: build build-bench/ (Release); start a throwaway PostgreSQL (tools/pg.sh, removed at
# exit); for every run start a fresh server with load-friendly limits (below), run the load
# generator with --server-pid, stop the server by its PID; then bench_vote, bench_matchmaker
# bench_lua and bench_send when built. Everything it started is stopped by PID at exit.
#
# Sets (the load generator and the server share this machine's cores: see docs/PERFORMANCE.md):
#   quick    smoke run, about a minute (tests/bench/loadgen.sh uses it)
#   default  rpc, match 100 x 8 (each run followed by bench_send, the kernel's floor) and
#            600 x 8, the script-heavy pair (heavy), idle 15,000, matchmaker, chat; then the
#            cluster and cluster-matchmaker sets below (they need redis-server); about 6 minutes
#   sweep    match at 25, 50, 100, 150, 200, 300 ... 800 matches until one does not hold 20 Hz
#   idle     idle at 5,000, 10,000, 15,000 sessions
#   full     default (without the cluster sets) + sweep
#   cluster  docs/CLUSTER.md: match 100x8 on one node without Redis and on one node in cluster
#            mode (private redis-server); 100 matches x 4 on 1 and on 2 nodes
#            (tests/bench/bench_cluster_match.js); chat over 3 nodes (tests/bench/bench_chat.js
#            --nodes 3: one channel of 1,000 members, 20 msg/s)
#   cluster-matchmaker  tests/bench/cluster_matchmaker.js: 10,000 tickets at 1,000/s on one node, then over 3
#
# Environment:
#   MOONBASE_BENCH_BUILD_DIR  build folder (build-bench)
#   MOONBASE_BENCH_NO_BUILD=1 use the binaries already in it
#   MOONBASE_BENCH_REPEAT=N   run each loadgen scenario N times (table shows medians)
#   MOONBASE_BENCH_SAVE=0     do not write tests/bench/results/<date>-<commit>.json
#   MOONBASE_BENCH_SERVER_ARGS extra server flags
#   MOONBASE_BENCH_WRAP="valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p"
#                             run the server under this (profiling; figures then mean little)
#   MOONBASE_BENCH_BIN        server binary to test instead of BUILD/moonbase
#   MOONBASE_BENCH_PIN=1      server on CPU 0, load generator on the last CPU (taskset); on this
#                             VM it did not change the match figures (3 alternated pairs)
#   MOONBASE_BENCH_NICE=N     nice value of server and load generator (-5 as root, else 0)
#   MOONBASE_BENCH_PERF=1     perf record -e cpu-clock the server during each run (=dwarf: with
#                             call graphs); reports in build-bench/bench-logs/NN-*.perf.data
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
SET=${1:-default}
BUILD=${MOONBASE_BENCH_BUILD_DIR:-build-bench}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
REPEAT=${MOONBASE_BENCH_REPEAT:-1}
LG=${MOONBASE_BENCH_LOADGEN:-$BUILD/tests/bench/loadgen/loadgen}
BIN=${MOONBASE_BENCH_BIN:-$BUILD/moonbase}
T_START=$(date +%s)

say() { printf 'bench: %s\n' "$*" >&2; }
# leaderboard: a script of its own (1,000,000 records; read p99s; durable submits per second)
[[ $SET == leaderboard ]] && exec "$ROOT/tests/bench/leaderboard.sh" "${@:2}"

case $SET in default|quick|sweep|idle|full|run|cluster|cluster-matchmaker) ;; *)
  sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac

# ---- build --------------------------------------------------------------------------------
if [[ ${MOONBASE_BENCH_NO_BUILD:-0} != 1 ]]; then
  # Warnings are not errors here: -O2 finds warnings (format-truncation) that the debug
  # trees of `make test` do not, and a benchmark should not stop on them.
  say "build: cmake -S $ROOT -B $BUILD -DCMAKE_BUILD_TYPE=Release -DMB_WERROR=OFF && cmake --build $BUILD -j$(nproc)"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMB_WERROR=OFF --log-level=WARNING >/dev/null || exit 1
  cmake --build "$BUILD" -j"$(nproc)" >"${TMPDIR:-/tmp}/moonbase-bench-build.log" 2>&1 || {
    tail -n 40 "${TMPDIR:-/tmp}/moonbase-bench-build.log" >&2; say "build failed"; exit 1; }
fi
[[ -x $BIN ]] || { say "no server at $BIN"; exit 1; }
[[ -x $LG ]] || { say "no load generator at $LG"; exit 1; }

LOGDIR=$BUILD/bench-logs
rm -rf "$LOGDIR"; mkdir -p "$LOGDIR"
RUNS=$LOGDIR/runs.jsonl
: >"$RUNS"
INPROC=$LOGDIR/inprocess.jsonl
: >"$INPROC"

# ---- cleanup: only what this script started, by PID ----------------------------------------
PGDIR="" SERVER_PID="" DATADIR="" PERF_PID="" REDIS_PID="" HEAVY_SCRIPTS=""
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      say "server $SERVER_PID did not stop in 10 s: SIGKILL"; kill -KILL "$SERVER_PID" 2>/dev/null
    fi
  fi
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=""
}
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  [[ -n $PERF_PID ]] && kill -INT "$PERF_PID" 2>/dev/null && wait "$PERF_PID" 2>/dev/null
  stop_server
  [[ -n $REDIS_PID ]] && kill -TERM "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
  [[ -n $PGDIR ]] && tools/pg.sh destroy "$PGDIR" >/dev/null 2>&1
  [[ -n $DATADIR ]] && rm -rf "$DATADIR"
  [[ -n $HEAVY_SCRIPTS ]] && rm -rf "$HEAVY_SCRIPTS"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# ---- PostgreSQL -----------------------------------------------------------------------------
PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/moonbase-bench-pg.XXXXXX"); chmod 0755 "$PGDIR"
if ! MOONBASE_PG_FAST=1 tools/pg.sh start "$PGDIR" "$(free_port)" >"$LOGDIR/pg.log" 2>&1; then
  cat "$LOGDIR/pg.log" >&2; say "could not start PostgreSQL"; exit 1
fi
DBURL=$(tools/pg.sh url "$PGDIR")
DATADIR=$(mktemp -d "${TMPDIR:-/tmp}/moonbase-bench-data.XXXXXX")
say "PostgreSQL $DBURL"

# ---- server ---------------------------------------------------------------------------------
# Load-friendly limits: per-connection message and input rates above what the scenarios send,
# the per-IP auth limit out of the way (every client is 127.0.0.1), room for 19,000 sockets,
# tokens that outlive the run, warn-level logs (info logs a line per session).
SERVER_ARGS=(--host 127.0.0.1 --database-url "$DBURL" --scripts "$ROOT/scripts"
  --migrations "$ROOT/migrations" --data-dir "$DATADIR" --mode development --log-level warn
  --msg-rate 1000 --msg-burst 2000 --input-rate 100 --auth-rate 1000000
  --max-connections 19500 --token-ttl 86400 --idle-timeout-ms 120000)
# shellcheck disable=SC2206
EXTRA_ARGS=(${MOONBASE_BENCH_SERVER_ARGS:-})
PORT=""
RUN_ARGS=() # server flags of the current run only (run_heavy)
start_server() { # LOGNAME
  PORT=$(free_port)
  # shellcheck disable=SC2206
  local wrap=(${MOONBASE_BENCH_WRAP:-})
  # Other jobs on a shared machine steal scheduler slices from the server (a 2-core box
  # with a third runnable task makes ticks wait several ms): a higher priority for the
  # server and the load generator, when we may (root), keeps the figures about them.
  if [[ $NICE != 0 ]]; then wrap=(nice -n "$NICE" "${wrap[@]}"); fi
  if [[ $PIN == 1 ]]; then wrap=(taskset -c 0 "${wrap[@]}"); fi
  "${wrap[@]}" "$BIN" --port "$PORT" "${SERVER_ARGS[@]}" "${RUN_ARGS[@]}" "${EXTRA_ARGS[@]}" >"$LOGDIR/$1.server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  say "server did not come up (log: $LOGDIR/$1.server.log)"; tail -n 20 "$LOGDIR/$1.server.log" >&2
  return 1
}

NICE=${MOONBASE_BENCH_NICE:--5}
PIN=${MOONBASE_BENCH_PIN:-0}
LG_PIN=()
if [[ $PIN == 1 ]]; then LG_PIN=(taskset -c "$(($(nproc) - 1))"); fi
[[ $(id -u) == 0 ]] || NICE=0
RUN_N=0 FAILED=0
# run SCENARIO LABEL [loadgen options...]: fresh server, one loadgen run, server stopped.
run() {
  local sc=$1 label=$2; shift 2
  local r
  for ((r = 1; r <= REPEAT; r++)); do
    RUN_N=$((RUN_N + 1))
    local name
    name=$(printf '%02d-%s-%s' "$RUN_N" "$sc" "$label" | tr -c 'A-Za-z0-9_.\n-' '_')
    start_server "$name" || { FAILED=1; return 1; }
    if [[ ${MOONBASE_BENCH_PERF:-0} != 0 ]]; then
      local cg=()
      [[ $MOONBASE_BENCH_PERF == dwarf ]] && cg=(--call-graph "dwarf,16384")
      perf record -e cpu-clock "${cg[@]}" -F "${MOONBASE_BENCH_PERF_HZ:-999}" -p "$SERVER_PID" -o "$LOGDIR/$name.perf.data" >/dev/null 2>&1 &
      PERF_PID=$!
    fi
    local t0=$SECONDS rc
    "${LG_PIN[@]}" nice -n "$NICE" "$LG" "$sc" --port "$PORT" --server-pid "$SERVER_PID" --label "$label" --out "$RUNS" "$@" \
      >/dev/null 2>"$LOGDIR/$name.log"
    rc=$?
    if [[ -n $PERF_PID ]]; then kill -INT "$PERF_PID" 2>/dev/null; wait "$PERF_PID" 2>/dev/null; PERF_PID=""; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      # The server died under load (a crash, not a stop): the run's figures are void. Marked
      # failed in the JSON so medians leave it out; its exit status says how it ended.
      wait "$SERVER_PID" 2>/dev/null; local st=$?
      SERVER_PID=""
      say "$sc $label: FAILED: the server died during the run (exit status $st$( ((st > 128)) && echo ", signal $((st - 128))"); log $LOGDIR/$name.server.log)"
      sed -i '$ s/"ok":true}$/"ok":false,"server_died":true}/' "$RUNS"
      FAILED=1
    elif ((rc == 0)); then say "$sc $label: ok ($((SECONDS - t0)) s)"
    else say "$sc $label: FAILED (exit $rc; log $LOGDIR/$name.log)"; tail -n 5 "$LOGDIR/$name.log" >&2; FAILED=1; fi
    stop_server
  done
}

# sweep COUNT...: match runs at the given (rising) counts until one does not hold.
sweep() {
  local m best=0
  for m in "$@"; do
    run match "sweep ${m}x8" --matches "$m" --players 8 --duration 8 --warmup 3
    if tail -n 1 "$RUNS" | grep -q '"holds":true'; then best=$m; else break; fi
  done
  say "sweep: largest match count that held 20 Hz (lateness p99 < 5 ms, input-to-state p99 < 55 ms): $best"
  printf '{"scenario":"sweep","label":"8 players 20 Hz","largest_holding":%d,"headline":[{"figure":"largest match count holding 20 Hz","value":%d,"unit":"matches","target":">= 600","met":%s}]}\n' \
    "$best" "$best" "$( ((best >= 600)) && echo true || echo false)" >>"$RUNS"
}

# send_floor: bench_send (no server), the kernel's price of a loopback send: 800 sockets,
# 16,000 sends/s, in 25 bursts per period (like matches in the server's 2 ms tick slots) and
# spread over 100 phases. Run right after each match 100x8 run, so the ratio "server CPU per
# state / CPU per send" compares figures taken on the machine in the same state.
send_floor() {
  [[ -x $BUILD/bench_send ]] || { say "bench_send: not built, skipped"; return 0; }
  local g
  for g in 25 100; do
    say "bench_send --groups $g"
    if "$BUILD/bench_send" --groups "$g" --seconds 5 >"$LOGDIR/bench_send.out" 2>&1; then
      cat "$LOGDIR/bench_send.out" >>"$LOGDIR/bench_send.log"
      grep -a '^{"bench"' "$LOGDIR/bench_send.out" >>"$INPROC" || true
    else
      cat "$LOGDIR/bench_send.out" >>"$LOGDIR/bench_send.log"; say "bench_send FAILED"; FAILED=1
    fi
  done
}

# match_100 [loadgen options...]: match 100 x 8, each repetition followed by send_floor.
match_100() {
  local r reps=$REPEAT
  for ((r = 1; r <= reps; r++)); do
    REPEAT=1 run match "100x8" --matches 100 --players 8 --duration 10 --warmup 3 "$@"
    send_floor
  done
}

# run_heavy [loadgen options...]: the script-heavy mode (scripts/bench/bench_heavy.lua: 1,000
# vector operations and a table.sort per tick per match) with LuaJIT's compiler on, then off,
# alternating per repetition. The mode is not in scripts/modes/ (no ordinary server loads it):
# it goes into a scripts folder of its own (symbolic links to scripts/ plus the mode).
run_heavy() {
  if [[ -z $HEAVY_SCRIPTS ]]; then
    HEAVY_SCRIPTS=$(mktemp -d "${TMPDIR:-/tmp}/moonbase-bench-scripts.XXXXXX")
    mkdir -p "$HEAVY_SCRIPTS/modes"
    ln -s "$ROOT/scripts/lib" "$HEAVY_SCRIPTS/lib"
    ln -s "$ROOT/scripts/server.lua" "$HEAVY_SCRIPTS/server.lua"
    ln -s "$ROOT/scripts/bench/bench_heavy.lua" "$HEAVY_SCRIPTS/modes/bench_heavy.lua"
  fi
  local r reps=$REPEAT jit
  for ((r = 1; r <= reps; r++)); do
    for jit in 1 0; do
      RUN_ARGS=(--scripts "$HEAVY_SCRIPTS" --lua-jit "$jit")
      REPEAT=1 run match "heavy jit $([[ $jit == 1 ]] && echo on || echo off)" --mode bench_heavy \
        --matches 10 --players 2 --duration 8 --warmup 3 --prefix lg-heavy "$@"
      RUN_ARGS=()
    done
  done
}

quick_set() {
  run rpc "32 conns" --connections 32 --duration 4 --warmup 1 --prefix lg-rpc
  run match "50x8" --matches 50 --players 8 --duration 4 --warmup 2
  run idle "2000" --clients 2000 --duration 3
  run matchmaker "500 @200/s" --clients 500 --rate 200 --duration 3 --prefix lg-mm
  run chat "200 members" --clients 200 --rate 20 --duration 3 --prefix lg-chat
}
default_set() {
  run rpc "64 conns" --connections 64 --duration 10 --warmup 2 --prefix lg-rpc
  match_100
  run match "600x8" --matches 600 --players 8 --duration 10 --warmup 3
  run_heavy
  run idle "15000" --clients 15000 --duration 8 --heartbeat 15
  run matchmaker "2000 @400/s" --clients 2000 --rate 400 --duration 5 --prefix lg-mm
  run chat "1000 members" --clients 1000 --rate 20 --duration 5 --prefix lg-chat
}

cluster_set() {
  run match "cluster-set 100x8 one node" --matches 100 --players 8 --duration 10 --warmup 3
  local rport saved=("${EXTRA_ARGS[@]}")
  rport=$(free_port)
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning \
    --dir "${TMPDIR:-/tmp}" >"$LOGDIR/redis.log" 2>&1 &
  REDIS_PID=$!
  EXTRA_ARGS+=(--redis-url "redis://127.0.0.1:$rport" --node-id bench1)
  run match "cluster-set 100x8 cluster mode" --matches 100 --players 8 --duration 10 --warmup 3
  EXTRA_ARGS=("${saved[@]}")
  say "match over 1 and 2 nodes, 3 rounds alternated: node tests/bench/bench_cluster_match.js --compare 3"
  MOONBASE_TEST_DATABASE_URL=$(tools/pg.sh url "$PGDIR" postgres) MOONBASE_BIN=$BIN \
    node tests/bench/bench_cluster_match.js --compare 3 2>&1 | tee -a "$LOGDIR/cluster-match.log" \
    | grep -E '^(nodes|median|Error)' >&2 || FAILED=1
  say "chat over 3 nodes: node tests/bench/bench_chat.js --only chat --nodes 3 --members 1000 --rate 20 --duration 10"
  MOONBASE_TEST_DATABASE_URL=$(tools/pg.sh url "$PGDIR" postgres) MOONBASE_BIN=$BIN \
    node tests/bench/bench_chat.js --only chat --nodes 3 --members 1000 --rate 20 --duration 10 \
    | tee "$LOGDIR/cluster-chat.log" | grep -E '^(cluster|server CPU|throughput|delivery|sender|delivered|bench_chat)' >&2 \
    || FAILED=1
}

cluster_mm_set() {
  say "cluster matchmaker: node tests/bench/cluster_matchmaker.js --tickets 10000 --rate 1000 --nodes 3"
  MOONBASE_TEST_DATABASE_URL=$(tools/pg.sh url "$PGDIR" postgres) MOONBASE_BIN=$BIN \
    node tests/bench/cluster_matchmaker.js --tickets 10000 --rate 1000 --nodes 3 >"$LOGDIR/cluster-mm.log" 2>&1 \
    || { say "cluster matchmaker FAILED (log $LOGDIR/cluster-mm.log)"; FAILED=1; }
  grep -E '^(==|time to matched|cluster vs|owner|submitted)' "$LOGDIR/cluster-mm.log" >&2
}

# make bench: the default set, then the cluster's two sets (issues 15 and 16 put them in make
# bench); they need redis-server, which tools/install-deps.sh installs.
make_bench_set() {
  default_set
  if command -v redis-server >/dev/null 2>&1; then
    cluster_set
    cluster_mm_set
  else
    say "cluster and cluster-matchmaker: redis-server not installed (tools/install-deps.sh), not run"; FAILED=1
  fi
}

if [[ $SET == run ]]; then
  shift
  sc=${1:?scenario}; shift
  if [[ $sc == heavy ]]; then run_heavy "$@"; else run "$sc" "manual" "$@"; fi
else
  case $SET in
    quick) quick_set ;;
    default) make_bench_set ;;
    sweep) sweep 25 50 100 150 200 300 400 500 600 700 800 ;;
    idle) for n in 5000 10000 15000; do run idle "$n" --clients "$n" --duration 8; done ;;
    cluster) cluster_set ;;
    cluster-matchmaker) cluster_mm_set ;;
    full) default_set; sweep 25 50 100 150 200 300 400 500 600 700 800 ;;
  esac
fi
stop_server

# ---- in-process benches ---------------------------------------------------------------------
if [[ $SET != run && $SET != sweep && $SET != idle && $SET != cluster && $SET != cluster-matchmaker ]]; then
  for b in modules/vote/bench_vote modules/matchmaker/bench_matchmaker runtime/lua/bench_lua; do
    exe=$BUILD/$b
    if [[ ! -x $exe ]]; then say "$(basename "$b"): not built, skipped"; continue; fi
    say "$(basename "$b")"
    if ! (cd "$(dirname "$exe")" && "$exe") >"$LOGDIR/$(basename "$b").log" 2>&1; then
      say "$(basename "$b") FAILED (log $LOGDIR/$(basename "$b").log)"; FAILED=1; continue
    fi
    grep -a '^{"bench"' "$LOGDIR/$(basename "$b").log" >>"$INPROC"
    if [[ $b == */bench_lua ]]; then # plain text: keep the state-encoding figures
      enc=$(grep -a 'mb_lua_encode_json:' "$LOGDIR/bench_lua.log" | grep -oE '[0-9]+ ns/op' | grep -oE '[0-9]+')
      pc=$(grep -a 'mb_lua_vm_pcall:' "$LOGDIR/bench_lua.log" | grep -oE 'mb_lua_vm_pcall: [0-9]+' | grep -oE '[0-9]+$')
      [[ -n $enc ]] && printf '{"bench":"lua","config":"encode state 8 players","median_ns":%s}\n' "$enc" >>"$INPROC"
      [[ -n $pc ]] && printf '{"bench":"lua","config":"mb_lua_vm_pcall","median_ns":%s}\n' "$pc" >>"$INPROC"
      # the script-heavy tick in-process: one VM back to back (hot), then 10 VMs in turn (cold)
      awk '/== script-heavy tick/ { k = (n++ ? "cold" : "hot") }
           /^JIT off:/ && k != "" {
             printf "{\"bench\":\"lua\",\"config\":\"heavy tick %s JIT off\",\"median_ns\":%.0f}\n", k, $3 * 1000
             printf "{\"bench\":\"lua\",\"config\":\"heavy tick %s JIT on\",\"median_ns\":%.0f}\n", k, $7 * 1000
             k = "" }' "$LOGDIR/bench_lua.log" >>"$INPROC"
    fi
  done
  # The kernel's price of one loopback send without the server (the floor under "CPU per
  # 100k states"), when no match 100x8 run was followed by it already.
  grep -q '"bench":"send"' "$INPROC" || send_floor
fi

# ---- table and history ----------------------------------------------------------------------
echo
echo "Moonbase bench ($SET), $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores shared by server and load generator"
"$LG" table --median "$RUNS" "$INPROC"
echo
# The figures of issue 17 (medians; pass/fail where it sets a target): tests/bench/targets.js.
node "$ROOT/tests/bench/targets.js" "$RUNS" "$INPROC" --json "$LOGDIR/targets.json" || FAILED=1
echo
say "logs: $LOGDIR   total $(( $(date +%s) - T_START )) s"
if [[ ${MOONBASE_BENCH_SAVE:-1} != 0 && $SET != quick && $SET != run ]]; then
  mkdir -p tests/bench/results
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  dirty=$([[ -n $(git status --porcelain -- runtime modules scripts 2>/dev/null) ]] && echo true || echo false)
  out=tests/bench/results/$(date -u +%Y%m%dT%H%M%SZ)-$SET-$commit.json
  node -e '
    const fs = require("fs"), os = require("os");
    const lines = f => fs.readFileSync(f, "utf8").split("\n").filter(Boolean).map(l => JSON.parse(l));
    const [runs, inproc, out, set, commit, dirty, targets] = process.argv.slice(1);
    const doc = { date: new Date().toISOString(), set, commit, server_code_dirty: dirty === "true",
      machine: { cores: os.cpus().length, cpu: os.cpus()[0].model, kernel: os.release(),
                 memory_gib: Math.round(os.totalmem() / 2 ** 30) },
      note: "server and load generator share the cores; other builds may have been running",
      runs: lines(runs), inprocess: lines(inproc),
      targets: fs.existsSync(targets) ? JSON.parse(fs.readFileSync(targets, "utf8")).figures : null };
    fs.writeFileSync(out, JSON.stringify(doc, null, 1) + "\n");
  ' "$RUNS" "$INPROC" "$out" "$SET" "$commit" "$dirty" "$LOGDIR/targets.json" && say "saved $out"
fi
exit "$FAILED"
