#!/usr/bin/env bash
# The seed benchmark's extra reference: a Python virtual environment in
# .deps/pyref with statsforecast from PyPI (bench only, never the product),
# its own pandas and numpy (Debian's are too old for it), beside Debian's python3 stack
# (MM_DEPS_PYTHON=1 scripts/deps.sh). Idempotent.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MM_DEPS_PYTHON=1 "$root/scripts/deps.sh"
venv="$root/.deps/pyref"
if ! "$venv/bin/python" -c 'import statsforecast' 2>/dev/null; then
  echo "setup: installing statsforecast into $venv" >&2
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "statsforecast==${MM_STATSFORECAST_VERSION:-2.1.1}"
fi
"$venv/bin/python" -c 'import statsforecast; print("statsforecast", statsforecast.__version__)'
