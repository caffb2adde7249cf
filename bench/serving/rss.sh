#!/usr/bin/env bash
# Memory of mm-scorer serve against the number of keys: set up KEYS keys with
# bench_serving_setup (as run.sh does), start serve with a model cache of
# CACHE_MIB, and print its RSS from /proc when it is ready and after a cold
# wrk run (every request a key not asked before), then its largest mappings.
#
# Usage: bench/serving/rss.sh [KEYS] [CACHE_MIB]        (default 20000 keys, 16 MiB)
# Environment: MM_BUILD_DIR (build), MM_SCORER (the mm-scorer binary to measure,
#   default the build's), OUT (/tmp/mm-bench-rss), DUR (wrk duration, 15s),
#   PREFIX_CMD (e.g. "heaptrack -o FILE" to attribute the heap; the RSS printed is then
#   the wrapper's, not the server's).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
keys="${1:-20000}" cache_mib="${2:-16}"
build="${MM_BUILD_DIR:-$root/build}" out="${OUT:-/tmp/mm-bench-rss}"
scorer="${MM_SCORER:-$build/services/scorer/mm-scorer}"
rm -rf "$out"; mkdir -p "$out/blobs"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
"$build/tools/devbroker/mm-devbroker" --partitions 64 --bootstrap-file "$out/bootstrap" \
  --watch-pid $$ >"$out/devbroker.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [[ -s $out/bootstrap ]] && break; sleep 0.1; done
bs=$(cat "$out/bootstrap")
s=$(date +%s)
nice "$build/bench/bench_serving_setup" "$out" "$keys" "file://$out/blobs" "$bs" 2>>"$out/setup.log"
echo "setup $(($(date +%s) - s)) s"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# shellcheck disable=SC2086  # PREFIX_CMD is words
MM_KAFKA_SESSION_TIMEOUT_MS=6000 ${PREFIX_CMD:-} "$scorer" serve --spec "$out/spec.json" \
  --bootstrap-servers "$bs" --blob-url "file://$out/blobs" --state "$out/state.db" \
  --sink "$out/sink.db" --http-addr "127.0.0.1:$port" --cache-bytes $((cache_mib << 20)) \
  --serve-threads 2 --serve-max-connections 1024 --log-level warn >"$out/serve.log" 2>&1 &
sp=$!
pids+=($sp)
ready=0
for _ in $(seq 1 1200); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && { ready=1; break; }
  sleep 0.5
done
[[ $ready == 1 ]] || { echo "rss.sh: serve not ready after 600 s ($out/serve.log)" >&2; exit 1; }
rss() { grep -E "VmRSS|VmHWM|RssAnon|RssFile" "/proc/$sp/status" | tr -s ' \t\n' ' '; echo " <- $1"; }
rss ready
KEYS_FILE="$out/keys.txt" WARM_KEYS=0 wrk -t1 -c32 -d"${DUR:-15s}" -s "$root/bench/serving/forecast.lua" \
  "http://127.0.0.1:$port" >"$out/wrk.txt" 2>&1 || true
grep -E "^requests" "$out/wrk.txt" || tail -3 "$out/wrk.txt"
rss "after a cold run"
awk '/^[0-9a-f]+-/{name=$6} /^Rss:/{rss[name]+=$2} END{for(n in rss) if (rss[n]>1024) print rss[n], "kB", n}' \
  "/proc/$sp/smaps" | sort -rn | head
kill -TERM "$sp"
wait "$sp" 2>/dev/null || true
