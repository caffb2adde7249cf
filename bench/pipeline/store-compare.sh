#!/usr/bin/env bash
# Compare mm-trainer's state store of git revision REV with the working tree's
# on the same data, in the same run: mm-trainer-store-bench (services/trainer/store_bench.c)
# built against each store.c, run alternately ROUNDS times; prints every run.
#
#   bench/pipeline/store-compare.sh REV [KEYS [DAYS [BATCH [ROUNDS]]]]
#
# Needs a Release build in ${MM_BUILD_DIR:-build} (scripts/build.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rev="${1:?usage: store-compare.sh REV [KEYS [DAYS [BATCH [ROUNDS]]]]}"
keys="${2:-200}" days="${3:-4000}" batch="${4:-5000}" rounds="${5:-3}"
build="$root/${MM_BUILD_DIR:-build}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/old"
git -C "$root" show "$rev:services/trainer/store.c" >"$work/old/store.c"
git -C "$root" show "$rev:services/trainer/store.h" >"$work/old/store.h"
cflags=(-D_GNU_SOURCE -I"$work/old" -I"$root/common/include" -O2 -DNDEBUG -std=c11)
cc "${cflags[@]}" -c "$work/old/store.c" -o "$work/old/store.o"
cc "${cflags[@]}" -c "$root/services/trainer/store_bench.c" -o "$work/old/bench.o"
# the link line of the current benchmark, with the old store in place of the trainer library
link="$(cat "$build/services/trainer/CMakeFiles/mm-trainer-store-bench.dir/link.txt")"
libs="${link#*-o mm-trainer-store-bench }"
libs="${libs/libmm_trainer_lib.a/}"
(cd "$build/services/trainer" && cc -O2 "$work/old/bench.o" "$work/old/store.o" -o "$work/bench_store_old" $libs)

for ((r = 1; r <= rounds; r++)); do
  echo "round $r: $rev  $("$work/bench_store_old" "$work" "$keys" "$days" "$batch")"
  echo "round $r: tree $("$build/services/trainer/mm-trainer-store-bench" "$work" "$keys" "$days" "$batch")"
done
