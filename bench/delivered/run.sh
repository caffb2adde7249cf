#!/usr/bin/env bash
# Delivered-accuracy benchmark: the whole pipeline through the real services
# (a broker, mm-ingest, mm-trainer, mm-promoter, mm-scorer) judged by the
# forecasts it writes to its SQLite sink, side by side in the same run with
# reference scripts (seasonal naive, statsmodels ETS, per-series XGBoost given
# the planned price and promotion), all evaluated by one code (evaluate.py).
#
#   bench/delivered/run.sh [keys] [days] [holdout]             daily, 1000 730 28
#   bench/delivered/run.sh --weekly [keys] [weeks] [holdout]   weekly, 1000 104 13
#   bench/delivered/run.sh --freshness [keys] [days] [fresh]   1000 728 14
#
# Daily and weekly: train on every day before the holdout; once every key has
# a decision, stop the trainer and the promoter (the batch run then scores the
# models trained on those rows: a retrain set off by the next load would race
# it), ingest the planned rows of the holdout (empty target, planned price and
# promotion), batch-score, read the sink. Weekly data is the daily data summed
# per week, with a spec that leaves every tuning field to its default.
# Freshness: train on days 1..days-2*fresh (700), stop the trainer, ingest the
# planned rows of the last 2*fresh days, score (run A: forecasts from day 700),
# ingest the observed rows of the next `fresh` days without retraining, score
# again (run B: must start at day 715); both judged on the last `fresh` days.
#
# Environment: OUT (output directory, default out/bench-delivered[-mode][-kafka]),
# MM_BENCH_BUILD (Release build directory, default build-release; built with
# nice unless MM_BENCH_NO_BUILD=1), MM_BENCH_SEED (42), MM_BENCH_WORKERS
# (reference worker processes, 2), MM_BENCH_REPEAT (timed repetitions of the
# references and of the batch run, medians reported; 1), MM_BENCH_TIMEOUT
# (seconds to wait for decisions, 3600), MM_BENCH_STALL (seconds without a new
# decision after which the run goes on with the keys decided so far, 300),
# MM_BENCH_SCORER_ARGS (extra mm-scorer arguments, split on spaces),
# MM_BENCH_METHODS (the references to run, default "snaive ets xgb"; autoets
# needs MM_BENCH_PYREF, a python with statsforecast: bench/seed/setup.sh),
# MM_BENCH_SAMPLE_<METHOD> (fit only that many series with that reference,
# e.g. MM_BENCH_SAMPLE_ETS=1000; its time is then extrapolated and said so),
# MM_BENCH_HTTP_PORT (first of two loopback ports for the trainer's and the
# promoter's /metrics, 19180), MM_BENCH_BROKER (devbroker: mm-devbroker, the
# default; kafka: a single-node Apache Kafka broker in KRaft mode from
# .deps/kafka/libs, needs java 17+, its topics made by `mmctl topics init`),
# MM_BENCH_KAFKA_HEAP (that broker's JVM heap, -Xmx, 512m), MM_BENCH_GROUPED (1:
# the training load is ingested with --grouped-by-key, as the generated CSV
# keeps each key's rows together, so a key trains as soon as its rows are in;
# 0: every key's end of load waits for the end of the file), MM_BENCH_PACE (the
# consumer group the training load paces itself against, mm-ingest
# --pace-group: mm-trainer on the dev broker, which drops what it cannot
# hold; empty, unpaced, on Kafka, which keeps what its retention says),
# MM_BENCH_SPEC (the daily spec the services run, default
# tools/datagen/specs/sales.json; known_in_advance is set on it),
# MM_BENCH_DATA (the data/ directory of an earlier run of the same keys, days,
# holdout, seed and mode: its CSVs are linked instead of generated again).
#
# Every second a sampler records CPU use (busy cores from /proc/stat), each
# service's RSS and the trainer's and promoter's counters (samples.tsv); the
# stages' start and end times go to marks.tsv; bench/seed/summarise.py turns
# both into the per-stage table (time, busy cores, rows stored, models).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/bench/delivered"
command_line="bench/delivered/run.sh $*"

mode=daily
case "${1:-}" in
  --weekly) mode=weekly; shift ;;
  --freshness) mode=freshness; shift ;;
  -h | --help) sed -n '2,/^set /{/^#/p}' "${BASH_SOURCE[0]}"; exit 0 ;;
  -*) echo "run.sh: unknown option $1 (--weekly, --freshness)" >&2; exit 2 ;;
esac
case "$mode" in
  daily) keys="${1:-1000}" periods="${2:-730}" holdout="${3:-28}" fresh=0 ;;
  weekly) keys="${1:-1000}" periods="${2:-104}" holdout="${3:-13}" fresh=0 ;;
  freshness) keys="${1:-1000}" periods="${2:-728}" holdout="${3:-14}" fresh="${3:-14}" ;;
esac
for v in "$keys" "$periods" "$holdout"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: keys, periods and holdout must be positive integers" >&2; exit 2; }
done
suffix=""; [[ $mode == daily ]] || suffix="-$mode"
[[ "${MM_BENCH_BROKER:-devbroker}" == kafka ]] && suffix+="-kafka"
out="${OUT:-$root/out/bench-delivered$suffix}"
build="${MM_BENCH_BUILD:-$root/build-release}"
seed="${MM_BENCH_SEED:-42}"
workers="${MM_BENCH_WORKERS:-2}"
repeat="${MM_BENCH_REPEAT:-1}"
timeout_s="${MM_BENCH_TIMEOUT:-3600}"
stall_s="${MM_BENCH_STALL:-300}"
py=/usr/bin/python3
cores=$(nproc) # before OMP_NUM_THREADS is set below: nproc honours it
pyref="${MM_BENCH_PYREF:-$root/.deps/pyref/bin/python}"
http_port="${MM_BENCH_HTTP_PORT:-19180}"
broker="${MM_BENCH_BROKER:-devbroker}"
kafka_heap="${MM_BENCH_KAFKA_HEAP:-512m}"
grouped="${MM_BENCH_GROUPED:-1}"
if [[ "$broker" == kafka ]]; then pace="${MM_BENCH_PACE-}"; else pace="${MM_BENCH_PACE-mm-trainer}"; fi
partitions=4
case "$broker" in
  devbroker | kafka) ;;
  *) echo "run.sh: MM_BENCH_BROKER must be devbroker or kafka, not $broker" >&2; exit 2 ;;
esac
# Peak RSS of the one-shot processes (mm-ingest, mm-scorer batch): GNU time.
timed=(/usr/bin/time -f '%M')
[[ -x /usr/bin/time ]] || { echo "run.sh: needs GNU time (/usr/bin/time, Debian package time)" >&2; exit 1; }

say() { printf '[bench] %s\n' "$*" >&2; }
fail() { printf '[bench] FAILED: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
median() { tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A pid_of=()
order=()
stop_service() { # name [grace in tenths of a second, 150]
  local name=$1 pid=${pid_of[$1]:-} grace=${2:-150}
  [[ -n "$pid" ]] || return 0
  local hwm
  hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
  [[ -n "$hwm" && -n "${out:-}" ]] && printf '%s\t%s\n' "$name" "$hwm" >>"$out/peak-rss-kib.tsv"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 "$grace"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "pid_of[$name]"
}
# Kafka's controlled shutdown (flush, close the logs, leave the quorum) on a busy
# machine takes longer than a service of ours.
stop_grace() { if [[ $1 == kafka ]]; then echo 600; else echo 150; fi; }
sampler_pid=""
cleanup() {
  local status=$?
  [[ -n "$sampler_pid" ]] && kill "$sampler_pid" 2>/dev/null
  for ((i = ${#order[@]} - 1; i >= 0; i--)); do stop_service "${order[i]}" "$(stop_grace "${order[i]}")"; done
  ((status == 0)) || say "logs are in $out/logs"
  exit "$status"
}
trap cleanup EXIT
trap 'say "failed at line $LINENO: $BASH_COMMAND"' ERR
trap 'exit 130' INT TERM

mark() { printf '%s\t%s\n' "$1" "$(now)" >>"$out/marks.tsv"; }
metric() { # port name -> the value of an unlabelled sample, or empty
  { curl -s --max-time 1 "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } |
    awk -v n="$2" '$1 == n { print $2; exit }'
}
sample_loop() { # one line a second: time, cpu busy/total jiffies, RSS (KiB) per service, counters
  local line name pid rss
  printf 'time\tbusy\ttotal\tniced\trss_kib\ttrainer_rows\ttrainer_trained\ttrainer_queue\tpromoter_pending\n' >"$out/samples.tsv"
  while :; do
    read -r _ u n sy id io irq sirq st _ </proc/stat
    rss=""
    for name in devbroker kafka trainer promoter; do
      pid=$(cat "$out/pids/$name" 2>/dev/null || true)
      [[ -n "$pid" ]] && rss+="$name=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0),"
    done
    # busy: work at normal priority (this benchmark); niced: other work at a lower priority
    line="$(now)\t$((u + sy + irq + sirq + st))\t$((u + n + sy + id + io + irq + sirq + st))\t$n\t${rss%,}"
    line+="\t$(metric "$http_port" mm_trainer_rows_consumed_total)\t$(metric "$http_port" mm_trainer_models_trained_total)"
    line+="\t$(metric "$http_port" mm_trainer_training_queue_depth)\t$(metric "$((http_port + 1))" mm_promoter_outbox_pending)"
    printf '%b\n' "$line" >>"$out/samples.tsv"
    sleep 1
  done
}

start_service() {
  local name=$1; shift
  (cd "$out/work" && exec "$@") >"$out/logs/$name.out" 2>"$out/logs/$name.log" &
  pid_of[$name]=$!
  order+=("$name")
  echo "$!" >"$out/pids/$name"
}
check_services() {
  local name
  for name in "${!pid_of[@]}"; do
    kill -0 "${pid_of[$name]}" 2>/dev/null || fail "$name died (see $out/logs/$name.log)"
  done
}

# ---------------------------------------------------------------- build
datagen="$build/tools/datagen/mm-datagen"
devbroker="$build/tools/devbroker/mm-devbroker"
ingest="$build/services/ingest/mm-ingest"
trainer="$build/services/trainer/mm-trainer"
promoter="$build/services/promoter/mm-promoter"
scorer="$build/services/scorer/mm-scorer"
mmctl="$build/tools/mmctl/mmctl"
if [[ "${MM_BENCH_NO_BUILD:-0}" != 1 ]]; then
  say "building (Release, $build)"
  MM_BUILD_TYPE=Release MM_BUILD_DIR="$build" \
    MM_BUILD_TARGETS="mm-datagen mm-devbroker mm-ingest mm-trainer mm-promoter mm-scorer mmctl" \
    nice -n 10 "$root/scripts/build.sh" -DBUILD_TESTING=OFF >/dev/null || fail "build"
fi
for b in "$datagen" "$devbroker" "$ingest" "$trainer" "$promoter" "$scorer" "$mmctl"; do
  [[ -x "$b" ]] || fail "$b is missing (build it, or unset MM_BENCH_NO_BUILD)"
done
kafka_libs="$root/.deps/kafka/libs"
if [[ $broker == kafka ]]; then
  command -v java >/dev/null || fail "MM_BENCH_BROKER=kafka needs java (17+): scripts/deps.sh"
  compgen -G "$kafka_libs/kafka_2.13-*.jar" >/dev/null ||
    fail "MM_BENCH_BROKER=kafka needs Apache Kafka's jars in .deps/kafka/libs: scripts/deps.sh"
fi
"$py" -c 'import statsmodels, xgboost, pandas' 2>/dev/null ||
  fail "the Python references need python3-statsmodels, python3-xgboost, python3-pandas: MM_DEPS_PYTHON=1 scripts/deps.sh"
command -v jq >/dev/null || fail "jq is missing: scripts/deps.sh"

rm -rf "$out"
mkdir -p "$out/data" "$out/logs" "$out/blobs" "$out/work" "$out/fc" "$out/pids"
export MM_BOOTSTRAP_FILE="$out/bootstrap.txt"
export MM_BLOB_URL="file://$out/blobs"
export MM_KAFKA_SESSION_TIMEOUT_MS=6000 # the one-machine broker settles quickly (scripts/demo.sh)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the source tree

# ---------------------------------------------------------------- data
# Keys as stores x items: the most items (at most 50) that divide the key count.
items=1
for ((i = 50; i >= 1; i--)); do ((keys % i == 0)) && { items=$i; break; }; done
stores=$((keys / items))
days=$periods
[[ $mode == weekly ]] && days=$((periods * 7))
reuse="${MM_BENCH_DATA:-}"
if [[ -n $reuse ]]; then
  reuse="$(cd "$reuse" && pwd)" || fail "MM_BENCH_DATA=$MM_BENCH_DATA is not a directory"
  for f in full.csv train.csv planned.csv truth.csv meta.json; do
    [[ -f $reuse/$f ]] || fail "MM_BENCH_DATA: $reuse/$f is missing"
    ln -s "$reuse/$f" "$out/data/$f"
  done
  got=$(jq -r '"\(.keys) \(.periods) \(.holdout)"' "$reuse/meta.json")
  [[ $got == "$keys $periods $holdout" ]] ||
    fail "MM_BENCH_DATA: $reuse holds keys, periods, holdout $got, not $keys $periods $holdout"
  say "reusing the data of $reuse ($got)"
else
  say "generating $keys series x $days days (seed $seed, $stores stores x $items items)"
  "$datagen" sales --stores "$stores" --items "$items" --days "$days" --seed "$seed" \
    --out "$out/data/full.csv" 2>"$out/logs/datagen.log" || fail "mm-datagen (see $out/logs/datagen.log)"
  prep_args=(--csv "$out/data/full.csv" --out "$out/data" --holdout "$holdout")
  [[ $mode == weekly ]] && prep_args+=(--weekly)
  [[ $mode == freshness ]] && prep_args+=(--fresh "$fresh")
  "$py" "$here/prepare.py" "${prep_args[@]}" >"$out/logs/prepare.out" 2>"$out/logs/prepare.log" ||
    fail "prepare.py (see $out/logs/prepare.log)"
fi
meta="$out/data/meta.json"
train_end=$(jq -r .train_end "$meta")
eval_start=$(jq -r .eval_start "$meta")
say "train through $train_end, evaluate from $eval_start to $(jq -r .last_date "$meta")"
# The planned rows are the holdout with its target blanked. mm-datagen's own planned
# rows (--planned-days), where it has them, must carry the same prices and promotions.
if [[ -z $reuse && $mode == daily ]] && "$datagen" sales --help 2>&1 | grep -q -- --planned-days; then
  if "$datagen" sales --stores "$stores" --items "$items" --days "$((days - holdout))" \
    --planned-days "$holdout" --seed "$seed" --out "$out/data/datagen-planned.csv" 2>>"$out/logs/datagen.log"; then
    if "$py" - "$out/data/datagen-planned.csv" "$out/data/planned.csv" <<'PY'
import sys, pandas as pd
a = pd.read_csv(sys.argv[1]); a = a[a["sales"].isna()].reset_index(drop=True)
b = pd.read_csv(sys.argv[2])
cols = ["store", "item", "date", "price", "promo"]
sys.exit(0 if len(a) == len(b) and a[cols].equals(b[cols]) else 1)
PY
    then say "mm-datagen --planned-days agrees with the blanked holdout"
    else say "WARNING: mm-datagen --planned-days differs from the blanked holdout (using the latter)"; fi
  fi
fi

# ---------------------------------------------------------------- spec
# Daily: the shipped sales spec. Weekly: only what the data is, every tuning field
# left to its default. Both declare price and promo known in advance where the spec
# format has that field.
if [[ $mode == weekly ]]; then
  jq -n '{name: "sales_weekly", description: "Weekly unit sales per store and item",
          task: "forecast", key: ["store", "item"],
          time: {column: "date", format: "%Y-%m-%d", frequency: "week"},
          target: {column: "sales"}, features: {exogenous: ["price", "promo"]}}' >"$out/spec-base.json"
else
  cp "${MM_BENCH_SPEC:-$root/tools/datagen/specs/sales.json}" "$out/spec-base.json"
fi
jq '.features.known_in_advance = ["price", "promo"]' "$out/spec-base.json" >"$out/spec.json"
# A service validates its spec before it connects: an invalid one fails at once, a
# valid one is stopped by the timeout while it looks for the (absent) broker.
spec_accepted() { # spec
  set +e
  timeout 10 "$ingest" --spec "$1" --bootstrap-servers 127.0.0.1:1 --pace-group "" \
    /dev/null >/dev/null 2>"$out/logs/spec-probe.log"
  set -e
  ! grep -q 'config_invalid' "$out/logs/spec-probe.log"
}
if spec_accepted "$out/spec.json"; then
  known_in_advance=yes
elif spec_accepted "$out/spec-base.json"; then
  say "this build's spec has no features.known_in_advance: planned covariates are not declared"
  cp "$out/spec-base.json" "$out/spec.json"
  known_in_advance=no
else
  fail "the spec is rejected (see $out/logs/spec-probe.log)"
fi
export MM_SPEC="$out/spec.json"

# mm-scorer batch, or mm-scorer alone where the batch job is its only mode.
scorer_cmd=("$scorer")
if "$scorer" batch --dump-config >/dev/null 2>&1; then scorer_cmd+=(batch); fi
read -r -a scorer_extra <<<"${MM_BENCH_SCORER_ARGS:-}"
scorer_cmd+=("${scorer_extra[@]}")

# ---------------------------------------------------------------- pipeline
run_ingest() { # name file pace-group [mm-ingest options] -> sets ingest_keys
  local name=$1 file=$2 pace=$3 status
  shift 3
  set +e
  (cd "$out/work" && "${timed[@]}" -o "$out/logs/rss-ingest-$name.txt" "$ingest" --pace-group "$pace" --load-id "bench-$name" "$@" "$file") \
    >"$out/logs/ingest-$name.out" 2>"$out/logs/ingest-$name.log"
  status=$?
  set -e
  # 0 = clean, 2 = some rows dead-lettered; anything else failed.
  [[ $status -eq 0 || $status -eq 2 ]] || fail "mm-ingest $name exited $status (see $out/logs/ingest-$name.log)"
  local summary
  summary=$(grep '"event":"ingest_summary"' "$out/logs/ingest-$name.log" | tail -1)
  [[ -n "$summary" ]] || fail "mm-ingest $name wrote no summary (see $out/logs/ingest-$name.log)"
  ingest_keys=$(jq -r '.keys' <<<"$summary")
  say "ingested $name: $(jq -r '"\(.rows_emitted) rows emitted, \(.rows_deadlettered) dead-lettered, \(.keys) keys"' <<<"$summary")"
}

wait_decisions() { # keys
  local want=$1 decided=0 last=-1 last_change deadline
  deadline=$(($(date +%s) + timeout_s))
  last_change=$(date +%s)
  while :; do
    check_services
    decided=$("$mmctl" report --registry "$out/registry.db" -o json 2>/dev/null | jq -r '.decided_keys // 0' || echo 0)
    [[ "$decided" -ge "$want" ]] && break
    if [[ "$decided" != "$last" ]]; then last=$decided; last_change=$(date +%s); fi
    (($(date +%s) < deadline)) || fail "only $decided of $want keys decided after ${timeout_s}s (see $out/logs)"
    if (($(date +%s) - last_change >= stall_s)); then
      say "WARNING: no new decision for ${stall_s}s: going on with $decided of $want keys decided"
      break
    fi
    sleep 1
  done
  decided_keys=$decided
}

score_times=()
run_score() { # name horizon -> sink $out/sink-<name>.db, run id bench-<name>
  local name=$1 horizon=$2 r t
  for ((r = 1; r <= repeat; r++)); do
    local sink="$out/sink-$name.db" tag=$name
    ((r == 1)) || { sink="$out/work/sink-$name-r$r.db"; tag="$name-r$r"; }
    t=$(now)
    (cd "$out/work" && "${timed[@]}" -o "$out/logs/rss-scorer-$tag.txt" "${scorer_cmd[@]}" --sink "$sink" --horizon "$horizon" --run-id "bench-$name") \
      >"$out/logs/scorer-$tag.out" 2>"$out/logs/scorer-$tag.log" ||
      fail "mm-scorer $tag (see $out/logs/scorer-$tag.log)"
    score_times+=("$(since "$t")")
  done
  say "scored $name: $(tail -1 "$out/logs/scorer-$name.out")"
}

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# A single-node Apache Kafka broker in KRaft mode, as tests/support/kafka_real.c starts
# one: free loopback ports, a fresh log dir formatted by StorageTool, kafka.Kafka as a
# service (its RSS sampled, its VmHWM at stop). Once it answers metadata, the topics
# are made by mmctl with the devbroker's partition count; the bootstrap file is
# written last, so the services find the topics there.
start_kafka() {
  local port cport dir="$out/kafka" kafka_cp="$kafka_libs/*"
  port=$(free_port) cport=$(free_port)
  while [[ "$cport" == "$port" ]]; do cport=$(free_port); done
  mkdir -p "$dir"
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=$partitions
offsets.topic.replication.factor=1
offsets.topic.num.partitions=$partitions
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  java -Xmx256m -cp "$kafka_cp" kafka.tools.StorageTool format --cluster-id bWFueW1vZGVscy1iZW5jaA \
    --config "$dir/server.properties" >"$out/logs/kafka-format.log" 2>&1 ||
    fail "kafka StorageTool format (see $out/logs/kafka-format.log)"
  start_service kafka java "-Xmx$kafka_heap" -XX:+UseSerialGC -cp "$kafka_cp" kafka.Kafka "$dir/server.properties"
  # The JVM, the KRaft election and the first metadata answer: 10-30 s on a busy 2-core machine.
  local deadline=$(($(date +%s) + 180))
  until "$mmctl" topics init --bootstrap-servers "127.0.0.1:$port" --dry-run >/dev/null 2>&1; do
    check_services
    (($(date +%s) < deadline)) || fail "the Kafka broker did not answer on 127.0.0.1:$port in 180 s (see $out/logs/kafka.log)"
    sleep 1
  done
  "$mmctl" topics init --bootstrap-servers "127.0.0.1:$port" --partitions "$partitions" \
    >"$out/logs/topics-init.out" 2>"$out/logs/topics-init.log" || fail "mmctl topics init (see $out/logs/topics-init.log)"
  echo "127.0.0.1:$port" >"$MM_BOOTSTRAP_FILE"
}

if [[ $broker == kafka ]]; then
  kafka_jar=$(compgen -G "$kafka_libs/kafka_2.13-*.jar" | head -1)
  kafka_version=${kafka_jar##*/kafka_2.13-}
  kafka_version=${kafka_version%.jar}
  broker_label="Apache Kafka $kafka_version (KRaft, single node, $partitions partitions, -Xmx$kafka_heap)"
  say "starting Apache Kafka $kafka_version, mm-trainer, mm-promoter"
  start_kafka
else
  broker_label="mm-devbroker ($partitions partitions)"
  say "starting mm-devbroker, mm-trainer, mm-promoter"
  start_service devbroker "$devbroker" --bootstrap-file "$MM_BOOTSTRAP_FILE" --partitions "$partitions"
  for _ in $(seq 1 100); do [[ -s "$MM_BOOTSTRAP_FILE" ]] && break; sleep 0.1; done
  [[ -s "$MM_BOOTSTRAP_FILE" ]] || fail "mm-devbroker did not start (see $out/logs/devbroker.log)"
fi
start_service trainer "$trainer" --state "$out/trainer.db" --http-addr "127.0.0.1:$http_port"
start_service promoter "$promoter" --registry "$out/registry.db" --http-addr "127.0.0.1:$((http_port + 1))"
sample_loop &
sampler_pid=$!

t_pipeline=$(now)
t=$(now)
mark ingest_start
train_opts=()
[[ $grouped == 1 ]] && train_opts+=(--grouped-by-key)
run_ingest train "$out/data/train.csv" "$pace" "${train_opts[@]}"
mark ingest_end
t_ingest=$(since "$t")
all_keys=$ingest_keys
t=$(now)
wait_decisions "$all_keys"
mark decided
t_train=$(since "$t")
say "$decided_keys of $all_keys keys decided (${t_train}s after the load)"
"$mmctl" report --registry "$out/registry.db" -o json >"$out/registry-report.json" 2>/dev/null || true
stop_service trainer
stop_service promoter

horizon=$((holdout + fresh))
t=$(now)
run_ingest planned "$out/data/planned.csv" ""
t_planned=$(since "$t")
score_times=()
mark score_start
run_score main "$horizon"
mark score_end
t_score=$(printf '%s ' "${score_times[@]}" | median)
t_total=$(since "$t_pipeline")
if [[ $mode == freshness ]]; then
  t=$(now)
  run_ingest fresh "$out/data/fresh.csv" ""
  t_fresh=$(since "$t")
  score_times=()
  run_score fresh "$holdout"
  t_score_fresh=$(printf '%s ' "${score_times[@]}" | median)
fi
stop_service "$broker" "$(stop_grace "$broker")"
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""
state=("$out/trainer.db" "$out/registry.db" "$out/work" "$out/blobs" "$out"/sink-*.db)
# The broker's log dir, after its clean shutdown (segments and trimmed indexes).
[[ $broker == kafka ]] && state+=("$out/kafka/data")
du -sk "${state[@]}" 2>/dev/null >"$out/disk-kib.tsv" || true

# ---------------------------------------------------------------- references
methods=(snaive ets xgb)
[[ $mode == weekly ]] && methods=(snaive ets)
[[ $mode == freshness ]] && methods=(snaive)
[[ -n "${MM_BENCH_METHODS:-}" ]] && read -r -a methods <<<"$MM_BENCH_METHODS"
declare -A ref_note=()
declare -A ref_seconds=()
for m in "${methods[@]}"; do
  secs=()
  for ((r = 1; r <= repeat; r++)); do
    dest="$out/fc/$m.csv"; ((r == 1)) || dest="$out/work/$m-r$r.csv"
    ref_py=$py ref_args=()
    if [[ $m == autoets ]]; then
      ref_py=$pyref
      [[ -x "$ref_py" ]] || fail "autoets needs statsforecast: bench/seed/setup.sh (or set MM_BENCH_PYREF)"
    fi
    sample_var="MM_BENCH_SAMPLE_${m^^}"
    [[ -n "${!sample_var:-}" ]] && ref_args+=(--sample "${!sample_var}")
    line=$("$ref_py" "$here/references.py" --data "$out/data" --method "$m" --workers "$workers" \
      "${ref_args[@]}" --out "$dest" 2>>"$out/logs/references.log") || fail "references.py $m (see $out/logs/references.log)"
    echo "$line" >>"$out/logs/references.out"
    fitted=$(jq -r .series <<<"$line") in_data=$(jq -r '.series_in_data // .series' <<<"$line")
    if ((fitted < in_data)); then
      # A sampled reference: its time scaled to every series, and said so.
      secs+=("$(jq -r --argjson k "$in_data" '.seconds * $k / .series' <<<"$line")")
      ref_note[$m]="$fitted of $in_data series fitted; time extrapolated to all ($(jq -r .seconds <<<"$line") s measured)"
    else
      secs+=("$(jq -r .seconds <<<"$line")")
    fi
  done
  ref_seconds[$m]=$(printf '%s ' "${secs[@]}" | median)
  say "reference $m: ${ref_seconds[$m]} s (median of $repeat, $workers workers)"
done

# ---------------------------------------------------------------- evaluation
label_main="delivered (sink)"
eval_args=(--data "$out/data" --registry "$out/registry.db"
  --json "$out/results.json" --markdown "$out/table.md")
if [[ $mode == freshness ]]; then
  label_main="delivered, scored from $train_end (run A)"
  label_fresh="delivered, scored after the fresh rows (run B)"
  first_planned=$(jq -r .first_planned "$meta")
  eval_args+=(--sink "$label_main=$out/sink-main.db@bench-main" --expect-start "$label_main=$first_planned"
    --sink "$label_fresh=$out/sink-fresh.db@bench-fresh" --expect-start "$label_fresh=$eval_start"
    --time "$label_fresh=$t_score_fresh")
else
  eval_args+=(--sink "$label_main=$out/sink-main.db@bench-main" --expect-start "$label_main=$eval_start")
fi
eval_args+=(--time "$label_main=$t_total")
for m in "${methods[@]}"; do
  name="reference $m"
  [[ $m == xgb ]] && name="reference xgb (given planned price, promo)"
  [[ $m == ets ]] && name="reference ets (statsmodels, damped add. trend, add. season)"
  [[ $m == snaive ]] && name="reference snaive"
  [[ $m == autoets ]] && name="reference autoets (statsforecast AutoETS)"
  [[ -n "${ref_note[$m]:-}" ]] && name+=" [sample]"
  eval_args+=(--forecasts "$name=$out/fc/$m.csv" --time "$name=${ref_seconds[$m]}")
done
"$py" "$here/evaluate.py" "${eval_args[@]}" >"$out/logs/evaluate.out" 2>"$out/logs/evaluate.log" ||
  fail "evaluate.py (see $out/logs/evaluate.log)"

fresh_times=""
[[ $mode == freshness ]] && fresh_times="; fresh ingest $t_fresh, second batch score $t_score_fresh"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
{
  echo "## $(date -u +%Y-%m-%d): $mode, $keys keys x $periods periods, holdout $holdout, broker $broker"
  echo
  echo "Command: \`$command_line\` (MM_BENCH_BROKER=$broker, MM_BENCH_GROUPED=$grouped, MM_BENCH_PACE=${pace:-(unpaced)}, MM_BENCH_REPEAT=$repeat, MM_BENCH_WORKERS=$workers, seed $seed)"
  echo
  echo "Broker: $broker_label."
  echo
  echo "Machine: $cores cores (nproc), $cpu; commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)."
  echo "Data: train through $train_end, evaluated $eval_start to $(jq -r .last_date "$meta");" \
    "planned covariates declared known in advance: $known_in_advance; scorer invoked as \`mm-scorer${scorer_cmd[1]:+ ${scorer_cmd[*]:1}}\`."
  echo "Pipeline (s): ingest $t_ingest, train+promote $t_train ($decided_keys of $all_keys keys decided)," \
    "planned ingest $t_planned, batch score $t_score (median of $repeat), total $t_total$fresh_times."
  echo "Seconds: the pipeline's total from the training load to the sink; a reference's wall time" \
    "end to end with $workers worker processes (median of $repeat)."
  nonseasonal=$(jq -rs 'map(select(.method == "ets"))[0].nonseasonal_series // empty' "$out/logs/references.out")
  if [[ -n "$nonseasonal" && "$nonseasonal" != 0 ]]; then
    echo "Reference ets: $nonseasonal series shorter than two seasons (statsmodels' least for a" \
      "seasonal fit) got the damped trend without season."
  fi
  for m in "${!ref_note[@]}"; do echo "Reference $m: ${ref_note[$m]}."; done
  echo
  cat "$out/table.md"
  if "$py" "$root/bench/seed/summarise.py" --out "$out" --cores "$cores" >"$out/stages.md" 2>>"$out/logs/summarise.log"; then
    echo
    cat "$out/stages.md"
  fi
} >"$out/RESULTS-run.md"
cat "$out/RESULTS-run.md"
