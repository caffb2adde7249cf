#!/usr/bin/env bash
# End-to-end pipeline benchmark: the demo (scripts/demo.sh) at a chosen scale,
# every service a separate process over the dev broker, file:// blobs, SQLite.
# Usage: bench/pipeline/run.sh STORES ITEMS DAYS  (default 100 100 730: 10,000 keys)
# Prints the demo's summary; peak memory per service comes from /proc at the end.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
stores="${1:-100}" items="${2:-100}" days="${3:-730}"
out="${OUT:-/tmp/mm-bench-pipeline}"
MM_DEMO_STORES="$stores" MM_DEMO_ITEMS="$items" MM_DEMO_DAYS="$days" MM_DEMO_DIR="$out" \
  MM_DEMO_TIMEOUT=3600 "$root/scripts/demo.sh"
echo
echo "state sizes:"
du -sh "$out/trainer.db" "$out/registry.db" "$out/predictions.db" "$out/blobs" 2>/dev/null
