#!/usr/bin/env bash
# Configure and build into build/ (or $MM_BUILD_DIR), passing extra CMake args
# through; MM_BUILD_TARGETS limits the build to the named targets.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MM_BUILD_DIR:-$root/build}"
jobs="$(nproc 2>/dev/null || echo 2)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE="${MM_BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
targets=()
for t in ${MM_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j "$jobs" "${targets[@]}"
