#!/bin/sh
# run.sh - the model benchmark end to end: generate the sales data with
# mm-datagen, run bench_models (C) and reference.py (statsmodels, XGBoost)
# on the same CSV, one after the other (never concurrently: times are per
# model, single thread). Results go to $OUT (default /tmp/mm-bench-models).
#
#   bench/models/run.sh [build-dir]      # build-dir: a Release build of this tree
set -eu
BUILD=${1:-build-models-rel}
OUT=${OUT:-/tmp/mm-bench-models}
mkdir -p "$OUT"
DATAGEN="$BUILD/tools/datagen/mm-datagen"
BENCH="$BUILD/bench/bench_models"
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

# 1,000 series x 730 days, and 100 series x 4,000 days; 28-day holdout.
"$DATAGEN" sales --stores 20 --items 50 --days 730 --seed 42 --out "$OUT/sales_730.csv"
"$DATAGEN" sales --stores 4 --items 25 --days 4000 --seed 7 --out "$OUT/sales_4000.csv"

for set in 730 4000; do
    algos=snaive,ets_aada,ets,croston,sba,tsb,ridge,xgboost,auto,auto_xgb,auto_single
    "$BENCH" --csv "$OUT/sales_$set.csv" --holdout 28 --algos "$algos" \
        --out "$OUT/c_$set.csv" > "$OUT/c_$set.txt"
    "$PY" bench/models/reference.py --csv "$OUT/sales_$set.csv" --holdout 28 \
        --methods sm_ets,py_xgb --out "$OUT/py_$set.csv" > "$OUT/py_$set.txt"
    echo "== $set days"; cat "$OUT/c_$set.txt" "$OUT/py_$set.txt"
done
