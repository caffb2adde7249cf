#!/bin/sh
# run-fuzz.sh FUZZER WORKDIR SEEDS SECONDS - one time-boxed libFuzzer run:
# the committed seeds are read, new inputs kept in WORKDIR/corpus, a crash,
# leak or timeout saved as WORKDIR/crash-*, leak-*, timeout-* (and the run
# fails). Printed at the end: the seed corpus size and what was found.
set -eu
fuzzer="$1" work="$2" seeds="$3" seconds="$4"
mkdir -p "$work/corpus"
status=0
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$seeds" || status=$?
if [ "$status" -ne 0 ]; then
  echo "fuzz: $(basename "$fuzzer") failed (status $status); inputs kept in $work:" >&2
  ls -1 "$work" | grep -E '^(crash|leak|timeout|oom)-' >&2 || true
fi
exit "$status"
