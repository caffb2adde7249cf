#!/usr/bin/env bash
# The seed's workload at full size: 10,000 store x item series x 4,000 days of
# daily sales (40 million rows), the last 28 days held out, through the real
# services (bench/delivered/run.sh: CSV -> mm-ingest -> Kafka -> mm-trainer ->
# mm-promoter -> planned covariates -> mm-scorer batch -> sink), side by side
# in the same run with the references a data scientist would script instead:
# per-series XGBoost given the planned covariates (2 worker processes),
# statsmodels ETS (2 workers, on a sample of MM_BENCH_SAMPLE_ETS series,
# time extrapolated), statsforecast AutoETS (n_jobs=2) and seasonal naive.
#
#   bench/seed/run.sh [keys] [days] [holdout]      default 10000 4000 28
#
# MM_BENCH_BROKER=kafka runs it on a single-node Apache Kafka broker instead of
# mm-devbroker (bench/delivered/README.md, "The broker").
#
# Writes out/bench-seed-<keys>x<days>[-kafka]/RESULTS-run.md: delivered
# accuracy over all keys against every reference, the stages (wall time, busy
# cores), peak RSS per service and state on disk (bench/seed/summarise.py).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
keys="${1:-10000}" days="${2:-4000}" holdout="${3:-28}"
"$root/bench/seed/setup.sh" >&2
suffix=""; [[ "${MM_BENCH_BROKER:-devbroker}" == kafka ]] && suffix="-kafka"
export OUT="${OUT:-$root/out/bench-seed-${keys}x${days}$suffix}"
export MM_BENCH_METHODS="${MM_BENCH_METHODS:-snaive xgb autoets ets}"
export MM_BENCH_SAMPLE_ETS="${MM_BENCH_SAMPLE_ETS:-500}"
export MM_BENCH_STALL="${MM_BENCH_STALL:-900}"
exec "$root/bench/delivered/run.sh" "$keys" "$days" "$holdout"
