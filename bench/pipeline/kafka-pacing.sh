#!/usr/bin/env bash
# mm-ingest with and without pacing on a real Apache Kafka broker (single node,
# KRaft, from .deps/kafka/libs): KEYS keys x DAYS days (mm-datagen, deterministic),
# loaded ROUNDS times per variant, the variants' order alternating by round.
# Every load gets its own topics and groups (topic prefix rN-VARIANT.) and its
# own mm-trainer, started before the load (pacing waits on its group).
# Variants: paced (the default budget), paced64k (--pace-max-bytes 65536),
# unpaced (--pace-group ""). Per load: ingest wall time, rows/s, paced_ms of
# mm-ingest's summary, seconds from the load's start until the trainer has
# stored every row (SUM(n_rows) of history_chunks), the topic's bytes on the
# broker's disk against the CSV's, mm-ingest's peak RSS. Then medians.
#
#   bench/pipeline/kafka-pacing.sh [KEYS [DAYS [ROUNDS]]]   (defaults 1000 4000 3)
#
# Knobs (env): OUT (work dir, kept; default a new temp dir, removed at exit
# unless KEEP=1), VARIANTS (default "paced unpaced"), PARTITIONS (4), TRAINER_WORKERS (1),
# STORE_TIMEOUT_S (1800: give up waiting for the trainer), RESULTS (file the
# results block is appended to, default $OUT/results.txt).
# Needs a build in ${MM_BUILD_DIR:-build} (scripts/build.sh) and java (17+).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
keys="${1:-1000}" days="${2:-4000}" rounds="${3:-3}"
build="$root/${MM_BUILD_DIR:-build}"
variants=(${VARIANTS:-paced unpaced})
partitions="${PARTITIONS:-4}" workers="${TRAINER_WORKERS:-1}"
store_timeout="${STORE_TIMEOUT_S:-1800}"
out="${OUT:-$(mktemp -d)}"
mkdir -p "$out"
results="${RESULTS:-$out/results.txt}"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ "${KEEP:-0}" == 1 || -n "${OUT:-}" ]] || rm -rf "$out"
}
trap cleanup EXIT

now() { date +%s.%N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- the data
stores=$(((keys + 9) / 10))
"$build/tools/datagen/mm-datagen" sales --stores "$stores" --items 10 --days "$days" --seed 7 \
  --out "$out/data.csv" >"$out/datagen.log" 2>&1
csv_bytes=$(stat -c %s "$out/data.csv")
csv_rows=$(($(wc -l <"$out/data.csv") - 1))

# --- the broker (as tests/support/kafka_real.c starts it)
port=$(free_port) cport=$(free_port)
while [[ "$cport" == "$port" ]]; do cport=$(free_port); done
mkdir -p "$out/kafka"
cat >"$out/kafka/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$out/kafka/data
num.partitions=$partitions
offsets.topic.replication.factor=1
offsets.topic.num.partitions=$partitions
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
cp="$root/.deps/kafka/libs/*"
java -Xmx256m -cp "$cp" kafka.tools.StorageTool format --cluster-id bWFueW1vZGVscy1iZW5jaA \
  --config "$out/kafka/server.properties" >"$out/kafka/format.log" 2>&1
java -Xmx512m -XX:+UseSerialGC -cp "$cp" kafka.Kafka "$out/kafka/server.properties" \
  >"$out/kafka/broker.log" 2>&1 &
broker=$!
pids+=("$broker")
export MM_BOOTSTRAP_SERVERS="127.0.0.1:$port"
export MM_SPEC="$root/tools/datagen/specs/sales.json"
export MM_BLOB_URL="file://$out/blobs"
up=0
for _ in $(seq 180); do
  kill -0 "$broker" 2>/dev/null || { tail -20 "$out/kafka/broker.log"; exit 1; }
  if "$build/tools/mmctl/mmctl" topics init --dry-run >/dev/null 2>&1; then up=1; break; fi
  sleep 1
done
((up)) || { echo "broker did not answer on $MM_BOOTSTRAP_SERVERS in 180 s" >&2; exit 1; }

stored() { sqlite3 "$1" "SELECT COALESCE(SUM(n_rows),0) FROM history_chunks" 2>/dev/null || echo 0; }

run() { # variant round
  local variant=$1 r=$2 label="r$2-$1" flags=()
  case "$variant" in
    paced) ;;
    paced64k) flags=(--pace-max-bytes 65536) ;;
    unpaced) flags=(--pace-group "") ;;
    *) echo "unknown variant $variant" >&2; exit 2 ;;
  esac
  export MM_TOPIC_PREFIX="$label."
  "$build/tools/mmctl/mmctl" topics init --partitions "$partitions" >"$out/$label-topics.log" 2>&1
  "$build/services/trainer/mm-trainer" --state "$out/$label.db" --workers "$workers" \
    --instance-id "$label" >"$out/$label-trainer.log" 2>&1 &
  local trainer=$!
  pids+=("$trainer")
  local t0 t1 t2
  t0=$(now)
  if ! /usr/bin/time -f %M -o "$out/$label-ingest.rss" "$build/services/ingest/mm-ingest" \
    "${flags[@]}" --load-id "$label" "$out/data.csv" >"$out/$label-ingest.out" 2>"$out/$label-ingest.log"; then
    echo "$label: mm-ingest failed; the end of its log:" >&2
    tail -5 "$out/$label-ingest.log" >&2
    exit 1
  fi
  t1=$(now)
  local emitted paced_ms
  read -r emitted paced_ms < <(grep '"ingest_summary"' "$out/$label-ingest.log" | tail -1 |
    python3 -c 'import json,sys; s=json.loads(sys.stdin.read()); print(s["rows_emitted"], s["paced_ms"])')
  local deadline=$(($(date +%s) + store_timeout))
  while (($(stored "$out/$label.db") < emitted)); do
    if (($(date +%s) > deadline)); then echo "$label: trainer stored $(stored "$out/$label.db") of $emitted rows in $store_timeout s" >&2; break; fi
    sleep 0.5
  done
  t2=$(now)
  kill "$trainer" 2>/dev/null || true
  wait "$trainer" 2>/dev/null || true
  local disk
  # the log segments' bytes (the index files are preallocated, so du would count those)
  disk=$(find "$out/kafka/data/" -path "*/${label}.mm.observations-*" -name '*.log' -printf '%s\n' |
    awk '{s += $1} END {print s + 0}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$variant" "$r" "$t0" "$t1" "$t2" "$emitted" \
    "$paced_ms" "$disk" "$(cat "$out/$label-ingest.rss")" >>"$out/runs.tsv"
  tail -1 "$out/runs.tsv" | python3 -c '
import sys
v, r, t0, t1, t2, rows, paced, disk, rss = sys.stdin.read().split("\t")
w, s = float(t1) - float(t0), float(t2) - float(t0)
print(f"round {r} {v}: ingest {w:.1f} s, {int(rows)/w:,.0f} rows/s, paced {int(paced)/1000:.1f} s, "
      f"all rows stored {s:.1f} s, topic on disk {int(disk)/2**20:.1f} MiB, ingest peak RSS {int(rss)/1024:.0f} MiB")'
}

: >"$out/runs.tsv"
for ((r = 1; r <= rounds; r++)); do
  order=("${variants[@]}")
  if ((r % 2 == 0)); then
    order=()
    for ((i = ${#variants[@]} - 1; i >= 0; i--)); do order+=("${variants[i]}"); done
  fi
  for v in "${order[@]}"; do run "$v" "$r"; done
done

{
  echo "== kafka-pacing $(date -u +%Y-%m-%dT%H:%MZ): $csv_rows rows ($keys keys x $days days, CSV $((csv_bytes / 1048576)) MiB)," \
    "$partitions partitions, trainer --workers $workers, $rounds round(s), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  python3 - "$out/runs.tsv" "$csv_bytes" <<'EOF'
import statistics, sys
runs = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
csv = int(sys.argv[2])
by = {}
for v, r, t0, t1, t2, rows, paced, disk, rss in runs:
    w, s = float(t1) - float(t0), float(t2) - float(t0)
    by.setdefault(v, []).append((int(r), w, int(rows) / w, int(paced) / 1000, s, int(disk), int(rss)))
print("| variant | round | ingest s | rows/s | paced s | all stored s | topic MiB (CSV ratio) | ingest RSS MiB |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for v, xs in by.items():
    for r, w, rps, p, s, d, m in xs:
        print(f"| {v} | {r} | {w:.1f} | {rps:,.0f} | {p:.1f} | {s:.1f} | {d/2**20:.1f} ({d/csv:.2f}) | {m/1024:.0f} |")
for v, xs in by.items():
    med = lambda i: statistics.median(x[i] for x in xs)
    print(f"| {v} | median | {med(1):.1f} | {med(2):,.0f} | {med(3):.1f} | {med(4):.1f} | {med(5)/2**20:.1f} | {med(6)/1024:.0f} |")
if "unpaced" in by:
    base = {x[0]: x for x in by["unpaced"]}
    for v, xs in by.items():
        if v == "unpaced": continue
        iw = [x[1] / base[x[0]][1] for x in xs if x[0] in base]
        st = [x[4] / base[x[0]][4] for x in xs if x[0] in base]
        if iw:
            print(f"{v} / unpaced, same round: ingest time {', '.join(f'{a:.2f}' for a in iw)}"
                  f" (median {statistics.median(iw):.2f}); all stored {', '.join(f'{a:.2f}' for a in st)}"
                  f" (median {statistics.median(st):.2f})")
EOF
} | tee -a "$results"
