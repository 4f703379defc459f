#!/usr/bin/env bash
# Configure (from CMakePresets.json) and build one tree.
#
#   tools/build.sh [default|asan] [BUILD_DIR]
#
# default -> build/ (RelWithDebInfo), asan -> build-asan/ (Debug, MB_SANITIZE=ON).
# BUILD_DIR overrides the preset's folder (also MOONBASE_BUILD_DIR / MOONBASE_ASAN_BUILD_DIR).
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

echo "build: cmake --preset $preset -B $dir && cmake --build $dir -j$jobs" >&2
cmake --preset "$preset" -B "$dir" --log-level=WARNING
cmake --build "$dir" -j"$jobs"
