#!/usr/bin/env bash
# Generate docs/CONFIGURATION.md from the services' own configuration tables
# (--help-markdown). Usage: scripts/gen-config-doc.sh [BUILD_DIR] [OUT]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
out="${2:-$root/docs/CONFIGURATION.md}"
{
  cat <<'HEAD'
# Configuration reference

Generated from the services' configuration tables by `scripts/gen-config-doc.sh`
(each binary's `--help-markdown`); do not edit by hand.

Precedence: built-in default < `MM_*` environment variable < command-line flag.
Every service also passes any librdkafka property through: `-X key=value` on the
command line, or `MM_KAFKA_<KEY>` in the environment (`MM_KAFKA_SESSION_TIMEOUT_MS`
sets `session.timeout.ms`); flags win. `--dump-config` prints the effective
configuration as JSON with secrets shown as `"***"`.

HEAD
  for b in services/ingest/mm-ingest services/trainer/mm-trainer services/promoter/mm-promoter \
           services/scorer/mm-scorer tools/devbroker/mm-devbroker; do
    "$build/$b" --help-markdown 2>/dev/null
    echo
    if [ "$b" = services/ingest/mm-ingest ]; then
      "$build/$b" watch --help-markdown 2>/dev/null
      echo
    fi
  done
} >"$out"
