#!/usr/bin/env bash
# The main job: the whole pipeline on generated sample data with the embedded
# defaults (dev broker, file:// blob store, SQLite). Installs what is missing,
# builds, then:
#   generate sales data -> start mm-devbroker, mm-trainer, mm-promoter ->
#   mm-ingest -> wait until every key has a decision -> mm-scorer (batch) ->
#   summary -> stop everything it started.
# Knobs (environment): MM_DEMO_STORES (20), MM_DEMO_ITEMS (15), MM_DEMO_DAYS (730),
# MM_DEMO_SEED (42), MM_DEMO_DIR (demo-output), MM_DEMO_TIMEOUT (seconds to wait
# for decisions, 600).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
stores="${MM_DEMO_STORES:-20}"
items="${MM_DEMO_ITEMS:-15}"
days="${MM_DEMO_DAYS:-730}"
seed="${MM_DEMO_SEED:-42}"
out="${MM_DEMO_DIR:-$root/demo-output}"
timeout_s="${MM_DEMO_TIMEOUT:-600}"

say() { printf '[demo] %s\n' "$*" >&2; }
fail() { printf '[demo] FAILED: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

pids=()
cleanup() {
  local status=$?
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if ((status != 0)); then
    say "logs are in $out/logs"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t_all=$(now)
say "installing missing dependencies"
"$root/scripts/deps.sh"
say "building"
t=$(now)
MM_BUILD_TYPE=Release MM_BUILD_DIR="$root/build-release" \
  MM_BUILD_TARGETS="mm-datagen mm-devbroker mm-ingest mm-trainer mm-promoter mm-scorer mmctl" \
  "$root/scripts/build.sh" -DBUILD_TESTING=OFF >/dev/null
t_build=$(since "$t")
bin="$root/build-release"
datagen="$bin/tools/datagen/mm-datagen"
devbroker="$bin/tools/devbroker/mm-devbroker"
ingest="$bin/services/ingest/mm-ingest"
trainer="$bin/services/trainer/mm-trainer"
promoter="$bin/services/promoter/mm-promoter"
scorer="$bin/services/scorer/mm-scorer"
mmctl="$bin/tools/mmctl/mmctl"
spec="$root/tools/datagen/specs/sales.json"

rm -rf "$out"
mkdir -p "$out/data" "$out/logs" "$out/blobs"
export MM_SPEC="$spec"
export MM_BOOTSTRAP_FILE="$out/bootstrap.txt"
export MM_BLOB_URL="file://$out/blobs"
# Short group session so the one-machine broker settles quickly (docs/ARCHITECTURE.md,
# "The dev broker": group joins wait session.timeout.ms - 1 s).
export MM_KAFKA_SESSION_TIMEOUT_MS=6000

say "generating $((stores * items)) series x $days days (seed $seed)"
t=$(now)
"$datagen" sales --stores "$stores" --items "$items" --days "$days" --seed "$seed" \
  --out "$out/data/sales.csv" 2>"$out/logs/datagen.log" || fail "mm-datagen (see $out/logs/datagen.log)"
# A few malformed rows, to show that bad input is dead-lettered and the load goes on.
printf 'store,item,date,sales,price,promo\n1,1,2024-13-45,3,1.0,0\n1,,2024-01-02,3,1.0,0\n2,3,2024-01-02,lots,1.0,0\n' \
  >"$out/data/bad-rows.csv"
t_gen=$(since "$t")
rows_generated=$(($(wc -l <"$out/data/sales.csv") - 1))

say "starting mm-devbroker, mm-trainer, mm-promoter"
"$devbroker" --bootstrap-file "$MM_BOOTSTRAP_FILE" --partitions 4 >"$out/logs/devbroker.out" 2>"$out/logs/devbroker.log" &
pids+=($!)
for _ in $(seq 1 100); do [[ -s "$MM_BOOTSTRAP_FILE" ]] && break; sleep 0.1; done
[[ -s "$MM_BOOTSTRAP_FILE" ]] || fail "mm-devbroker did not start (see $out/logs/devbroker.log)"
"$trainer" --state "$out/trainer.db" 2>"$out/logs/trainer.log" &
pids+=($!)
"$promoter" --registry "$out/registry.db" 2>"$out/logs/promoter.log" &
pids+=($!)

say "ingesting $rows_generated rows (+3 malformed)"
t=$(now)
set +e
"$ingest" "$out/data/sales.csv" "$out/data/bad-rows.csv" >"$out/logs/ingest.out" 2>"$out/logs/ingest.log"
ingest_status=$?
set -e
t_ingest=$(since "$t")
# 0 = clean, 2 = finished with dead-lettered rows (expected here); anything else failed.
if [[ $ingest_status -ne 0 && $ingest_status -ne 2 ]]; then
  fail "mm-ingest exited $ingest_status (see $out/logs/ingest.log)"
fi
summary=$(grep '"event":"ingest_summary"' "$out/logs/ingest.log" | tail -1)
[[ -n "$summary" ]] || fail "mm-ingest wrote no summary (see $out/logs/ingest.log)"
keys=$(jq -r '.keys' <<<"$summary")
rows_emitted=$(jq -r '.rows_emitted' <<<"$summary")
rows_dead=$(jq -r '.rows_deadlettered' <<<"$summary")
say "ingested: $rows_emitted rows emitted, $rows_dead dead-lettered, $keys keys (${t_ingest}s)"

say "waiting until every key has a decision"
t=$(now)
deadline=$(($(date +%s) + timeout_s))
decided=0
while :; do
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || fail "a service died (see $out/logs)"; done
  decided=$("$mmctl" report --registry "$out/registry.db" -o json 2>/dev/null | jq -r '.decided_keys // 0' || echo 0)
  [[ "$decided" -ge "$keys" ]] && break
  (($(date +%s) < deadline)) || fail "only $decided of $keys keys decided after ${timeout_s}s (see $out/logs)"
  sleep 1
done
t_train=$(since "$t")
say "all $keys keys decided (${t_train}s after ingest)"

say "batch scoring"
t=$(now)
"$scorer" --sink "$out/predictions.db" --state "$out/scorer.db" >"$out/logs/scorer.out" 2>"$out/logs/scorer.log" ||
  fail "mm-scorer (see $out/logs/scorer.log)"
t_score=$(since "$t")

report=$("$mmctl" report --registry "$out/registry.db" --sink "$out/predictions.db" -o json)
echo "$report" >"$out/report.json"
"$mmctl" report --registry "$out/registry.db" --sink "$out/predictions.db" -o table >"$out/report.txt"

cat <<SUMMARY

manymodels demo: summary
  data           $rows_generated rows generated, $rows_emitted emitted, $rows_dead dead-lettered, $keys keys
  models         $(jq -r '"\(.versions) trained, \(.approved) approved, \(.rejected) rejected, \(.fallback) fallback"' <<<"$report")
  accuracy       $(jq -r '.metrics | to_entries | map("\(.key) \(.value.model | tostring | .[0:6]) vs baseline \(.value.baseline | tostring | .[0:6])") | join("; ")' <<<"$report")
  predictions    $(jq -r '"\(.predictions.rows) rows for \(.predictions.keys) keys; \(.no_model_keys) keys without a production model"' <<<"$report")
  time (s)       build $t_build, generate $t_gen, ingest $t_ingest, train+promote $t_train, score $t_score, total $(since "$t_all")
  results        $out/predictions.db (sink), $out/registry.db (registry),
                 $out/blobs (artifacts), $out/report.txt, $out/logs/
SUMMARY
cat "$out/report.txt"
