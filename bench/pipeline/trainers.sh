#!/usr/bin/env bash
# 1 against 2 mm-trainer processes in one consumer group, on the same data in
# the same run: KEYS keys x DAYS days (mm-datagen, key-major), ingested once
# into a dev broker (4 partitions, no pacing), then consumed and trained
# (a) by one trainer with WORKERS threads, (b) by two trainers with
# WORKERS/2 threads each (separate state stores, the same group). Prints the
# seconds from the trainers' start until every key has a model, keys/s, and
# the CPU seconds the trainer processes used until then (user + system from
# /proc/PID/stat), in all and per key: on a shared machine the CPU seconds
# say more than the wall time.
#
#   bench/pipeline/trainers.sh [KEYS [DAYS [WORKERS]]]   (defaults 40 4000 2)
#
# Needs a build in ${MM_BUILD_DIR:-build} (scripts/build.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
keys="${1:-40}" days="${2:-4000}" workers="${3:-2}"
build="$root/${MM_BUILD_DIR:-build}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

stores=$(((keys + 9) / 10))
"$build/tools/datagen/mm-datagen" sales --stores "$stores" --items 10 --days "$days" \
  --out "$work/data.csv" >"$work/datagen.log" 2>&1
export MM_SPEC="$root/tools/datagen/specs/sales.json"
export MM_BOOTSTRAP_FILE="$work/bootstrap.txt"
export MM_BLOB_URL="file://$work/blobs"
export MM_KAFKA_SESSION_TIMEOUT_MS=6000
"$build/tools/devbroker/mm-devbroker" --bootstrap-file "$MM_BOOTSTRAP_FILE" --partitions 4 \
  >"$work/broker.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s "$MM_BOOTSTRAP_FILE" ]] && break; sleep 0.1; done
"$build/services/ingest/mm-ingest" --pace-group "" --grouped-by-key --load-id trainers \
  "$work/data.csv" >"$work/ingest.log" 2>&1
n_keys=$((stores * 10))

trained() { # state files... -> models recorded
  local n=0 f c
  for f in "$@"; do
    c=$(sqlite3 "$f" "SELECT COUNT(DISTINCT partition_key) FROM trained" 2>/dev/null || echo 0)
    n=$((n + c))
  done
  echo "$n"
}

cpu_ticks() { # pid -> user + system clock ticks so far
  awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

run() { # label processes threads-each
  local label=$1 procs=$2 threads=$3 states=() mine=() start end i ticks=0
  start=$(date +%s.%N)
  for ((i = 0; i < procs; i++)); do
    states+=("$work/$label-$i.db")
    "$build/services/trainer/mm-trainer" --state "$work/$label-$i.db" --group-id "bench-$label" \
      --workers "$threads" --instance-id "$label-$i" >"$work/$label-$i.log" 2>&1 &
    pids+=($!)
    mine+=($!)
  done
  while (($(trained "${states[@]}") < n_keys)); do sleep 0.5; done
  end=$(date +%s.%N)
  for p in "${mine[@]}"; do ticks=$((ticks + $(cpu_ticks "$p"))); done
  local each=""
  for f in "${states[@]}"; do each+=" $(trained "$f")"; done
  for p in "${mine[@]}"; do kill "$p" 2>/dev/null || true; done
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); k=int(sys.argv[3]); c=int(sys.argv[4])/int(sys.argv[5]); print(f'$label: $procs process(es) x $threads worker(s): {k} keys in {s:.1f} s = {k/s:.2f} keys/s; {c:.1f} CPU s = {c/k*1000:.0f} CPU ms per key (models per process:$each)')" \
    "$start" "$end" "$n_keys" "$ticks" "$(getconf CLK_TCK)"
}

run one 1 "$workers"
run two 2 $((workers / 2 > 0 ? workers / 2 : 1))
