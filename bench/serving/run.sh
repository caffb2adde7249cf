#!/usr/bin/env bash
# Serving benchmark: mm-scorer serve on loopback with KEYS keys whose
# artifacts are in blob storage, loaded by wrk, side by side with a Python
# reference server (bench/serving/README.md).
#
# Usage: bench/serving/run.sh [KEYS] [CACHE_MIB]      (default 100000 keys, 16 MiB)
# Environment: MM_BENCH_DURATION (30s), MM_BENCH_CONNECTIONS (32),
#   MM_BENCH_LATENCY_CONNECTIONS (4, the warm run below saturation),
#   MM_BENCH_WRK_THREADS (1), MM_BENCH_WARM_KEYS (1000), MM_BENCH_SERVE_THREADS (2),
#   MM_BENCH_BLOB=file|azurite (file), MM_BUILD_DIR (build), OUT (/tmp/mm-bench-serving).
# Results: $OUT/results.txt (also printed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
keys="${1:-100000}" cache_mib="${2:-16}"
duration="${MM_BENCH_DURATION:-30s}" conns="${MM_BENCH_CONNECTIONS:-32}"
wrk_threads="${MM_BENCH_WRK_THREADS:-1}" warm_keys="${MM_BENCH_WARM_KEYS:-1000}"
serve_threads="${MM_BENCH_SERVE_THREADS:-2}" blob_kind="${MM_BENCH_BLOB:-file}"
latency_conns="${MM_BENCH_LATENCY_CONNECTIONS:-4}"
build="${MM_BUILD_DIR:-$root/build}" out="${OUT:-/tmp/mm-bench-serving}"
here="$root/bench/serving"
results="$out/results.txt"
azurite_key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian)" >&2
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo=sudo
  $sudo apt-get install -y -qq --no-install-recommends wrk >&2
fi
for b in "$build/services/scorer/mm-scorer" "$build/tools/devbroker/mm-devbroker" \
         "$build/bench/bench_serving_setup"; do
  [[ -x "$b" ]] || { echo "run.sh: $b is not built (scripts/build.sh)" >&2; exit 1; }
done

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # URL: until it answers 200 (bounded)
  for _ in $(seq 1 600); do curl -sf -o /dev/null "$1" && return 0; sleep 0.5; done
  echo "run.sh: $1 did not become ready" >&2; return 1
}
say() { echo "$*" | tee -a "$results"; }
# Quantiles of a Prometheus histogram between two scrapes: NAME Q... < "before\n---\nafter"
hist_quantiles() { python3 "$here/hist_quantiles.py" "$@"; }

rm -rf "$out"; mkdir -p "$out/blobs"
: > "$results"
say "# serving benchmark $(date -u +%FT%TZ) on $(nproc) cores: $keys keys, cache ${cache_mib} MiB," \
    "wrk $wrk_threads threads x $conns connections for $duration, blob $blob_kind"

"$build/tools/devbroker/mm-devbroker" --partitions 64 --bootstrap-file "$out/bootstrap" \
  --watch-pid $$ >"$out/devbroker.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [[ -s "$out/bootstrap" ]] && break; sleep 0.1; done
bootstrap="$(cat "$out/bootstrap")"

blob_url="file://$out/blobs"
if [[ "$blob_kind" == azurite ]]; then
  az_port="$(free_port)"
  "$root/.deps/npm/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$az_port" \
    --inMemoryPersistence --silent --disableTelemetry --skipApiVersionCheck \
    >"$out/azurite.log" 2>&1 &
  pids+=($!)
  sleep 3
  blob_url="http://127.0.0.1:$az_port/devstoreaccount1/bench"
  export MM_BLOB_KEY="$azurite_key"
fi

start=$(date +%s)
"$build/bench/bench_serving_setup" "$out" "$keys" "$blob_url" "$bootstrap" 2>>"$out/setup.log"
say "setup: $keys models, observations and decisions in $(( $(date +%s) - start )) s"

port="$(free_port)"
MM_KAFKA_SESSION_TIMEOUT_MS=6000 "$build/services/scorer/mm-scorer" serve \
  --spec "$out/spec.json" --bootstrap-servers "$bootstrap" --blob-url "$blob_url" \
  --state "$out/state.db" --sink "$out/sink.db" --http-addr "127.0.0.1:$port" \
  --cache-bytes $((cache_mib << 20)) --serve-threads "$serve_threads" \
  --serve-max-connections 1024 --log-level warn >"$out/serve.log" 2>&1 &
serve_pid=$!
pids+=($serve_pid)
start=$(date +%s)
wait_http "http://127.0.0.1:$port/readyz"
say "serve ready (decisions and scoring data read) in $(( $(date +%s) - start )) s"
base="http://127.0.0.1:$port"

run_wrk() { # NAME URL WARM_KEYS DURATION [CONNECTIONS]
  KEYS_FILE="$out/keys.txt" WARM_KEYS="$3" wrk -t "$wrk_threads" -c "${5:-$conns}" -d "$4" \
    -s "$here/forecast.lua" "$2" >"$out/wrk-$1.txt" 2>&1 || true
  say "## $1"
  grep -E "^(requests|p[0-9])" "$out/wrk-$1.txt" | tee -a "$results"
}

# Warm: the first MM_BENCH_WARM_KEYS keys, loaded once, then measured.
run_wrk warmup "$base" "$warm_keys" 5s >/dev/null
run_wrk warm "$base" "$warm_keys" "$duration"
# Latency below saturation: with 32 connections on 2 cores the quantiles are
# mostly queueing behind wrk and the other connections, not the request.
run_wrk "warm-latency-c$latency_conns" "$base" "$warm_keys" "$duration" "$latency_conns"

# Cold: every key at random (working set >> cache): load latency from the
# server's histogram, and the peak RSS against the budget.
curl -s "$base/metrics" >"$out/metrics-before.txt"
( peak=0; while kill -0 "$serve_pid" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$serve_pid/status" 2>/dev/null || echo 0)
    (( rss > peak )) && peak=$rss && echo "$peak" >"$out/rss-peak-kib"
    sleep 0.2; done ) &
rss_pid=$!
run_wrk cold "$base" 0 "$duration"
kill "$rss_pid" 2>/dev/null || true
curl -s "$base/metrics" >"$out/metrics-after.txt"
say "cold load latency from $blob_kind (s): $(hist_quantiles mm_scorer_model_load_duration_seconds \
  "$out/metrics-before.txt" "$out/metrics-after.txt" 0.5 0.99)"
peak_kib=$(cat "$out/rss-peak-kib" 2>/dev/null || echo 0)
say "peak RSS $((peak_kib / 1024)) MiB; bound (cache + 64 MiB) $((cache_mib + 64)) MiB"
grep -E '^mm_scorer_model_cache_(bytes|entries|evictions_total)' "$out/metrics-after.txt" | tee -a "$results"

# Hot swap: new versions of 1,000 keys promoted during a warm run.
KEYS_FILE="$out/keys.txt" WARM_KEYS="$warm_keys" wrk -t "$wrk_threads" -c "$conns" -d "$duration" \
  -s "$here/forecast.lua" "$base" >"$out/wrk-hotswap.txt" 2>&1 &
wrk_pid=$!
sleep 3
"$build/bench/bench_serving_setup" "$out" "$keys" "$blob_url" "$bootstrap" 2 0 1000 \
  2>>"$out/setup.log"
t0=$(date +%s%N)
key0="$(head -1 "$out/keys.txt")"
until curl -s "$base/v1/forecast" -d "{\"key\": \"$key0\"}" | grep -q '"model_version":2'; do
  sleep 0.005
done
t1=$(date +%s%N)
wait "$wrk_pid" || true
say "## hotswap (1000 keys promoted during the run)"
grep -E "^(requests|p[0-9])" "$out/wrk-hotswap.txt" | tee -a "$results"
say "first answer from the new version $(( (t1 - t0) / 1000000 )) ms after the last decision was delivered"

# The reference server, same keys, same cache size in keys as the warm set x 10.
ref_port="$(free_port)"
python3 "$here/reference.py" "$out" "$ref_port" $((warm_keys * 10)) >"$out/reference.log" 2>&1 &
pids+=($!)
sleep 1
wait_http_post() { for _ in $(seq 1 100); do
  curl -sf -o /dev/null "$1/v1/forecast" -d "{\"key\": \"$key0\"}" && return 0; sleep 0.2; done; }
wait_http_post "http://127.0.0.1:$ref_port"
run_wrk reference-warmup "http://127.0.0.1:$ref_port" "$warm_keys" 5s >/dev/null
run_wrk reference-warm "http://127.0.0.1:$ref_port" "$warm_keys" "$duration"
run_wrk reference-cold "http://127.0.0.1:$ref_port" 0 "$duration"

kill -TERM "$serve_pid"
wait "$serve_pid" && say "serve stopped cleanly on SIGTERM" || say "serve exit status $?"
echo "results: $results"
