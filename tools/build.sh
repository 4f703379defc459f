#!/usr/bin/env bash
# Configure (from CMakePresets.json) and build one tree.
#
#   tools/build.sh [default|asan] [BUILD_DIR]
#
# default -> build/ (RelWithDebInfo), asan -> build-asan/ (Debug, MB_SANITIZE=ON).
# BUILD_DIR overrides the preset's folder (also MOONBASE_BUILD_DIR / MOONBASE_ASAN_BUILD_DIR).
# MOONBASE_BUILD_TARGET=moonbase builds that target only (tools/run.sh: just the server);
# MOONBASE_BUILD_QUIET=1 hides the configure step's output.
# Configuring every time is cheap and keeps the cache in line with the preset.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

preset=${1:-default}
case $preset in
  default) dir=${2:-${MOONBASE_BUILD_DIR:-build}} ;;
  asan)    dir=${2:-${MOONBASE_ASAN_BUILD_DIR:-build-asan}} ;;
  *) echo "usage: tools/build.sh [default|asan] [BUILD_DIR]" >&2; exit 2 ;;
esac
jobs=${MOONBASE_JOBS:-$(nproc 2>/dev/null || echo 2)}

target=()
[[ -n ${MOONBASE_BUILD_TARGET:-} ]] && target=(--target "$MOONBASE_BUILD_TARGET")
echo "build: cmake --preset $preset -B $dir && cmake --build $dir -j$jobs${target:+ ${target[*]}}" >&2
if [[ ${MOONBASE_BUILD_QUIET:-0} == 1 ]]; then   # configure's chatter off (errors still show)
  cmake --preset "$preset" -B "$dir" --log-level=WARNING >/dev/null
else
  cmake --preset "$preset" -B "$dir" --log-level=WARNING
fi
cmake --build "$dir" -j"$jobs" "${target[@]}"
