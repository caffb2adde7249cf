#!/usr/bin/env bash
# Run the unit tests under Valgrind memcheck, one test binary at a time, every
# Criterion test process traced (docs/testing.md, "Valgrind"):
#   scripts/valgrind.sh              every unit test
#   scripts/valgrind.sh test_redact  the unit tests whose name matches
# Builds ./build first (MM_BUILD_DIR to change). Each test's report is kept in
# <build>/valgrind/<test>.log; the script lists the tests with memory errors
# or definite leaks and exits 1 if there is any. tests/valgrind.supp holds the
# suppressions (each with its reason).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MM_BUILD_DIR:-$root/build}"
MM_BUILD_DIR="$build" "$root/scripts/build.sh" >/dev/null
command -v valgrind >/dev/null || { echo "valgrind: not installed (apt-get install valgrind)" >&2; exit 2; }
mkdir -p "$build/valgrind"
mapfile -t tests < <(cd "$build" && ctest -L unit -N ${1:+-R "$1"} | sed -n 's/^ *Test *#[0-9]*: *//p')
failed=()
for t in "${tests[@]}"; do
  bin="$build/tests/$t"
  [[ -x "$bin" ]] || continue # scripts (format, layers): no C of ours to check
  log="$build/valgrind/$t.log"
  echo "valgrind: $t" >&2
  status=0
  # Criterion's own timeout is per test; memcheck runs 20-50x slower.
  MM_TEST_TIMEOUT_MULT=30 valgrind --trace-children=yes --leak-check=full \
    --errors-for-leak-kinds=definite --show-leak-kinds=definite --error-exitcode=99 \
    --suppressions="$root/tests/valgrind.supp" --log-file="$log.%p" \
    "$bin" --jobs=1 --timeout=3600 >"$log.out" 2>&1 || status=$?
  cat "$log".[0-9]* > "$log" 2>/dev/null || true
  rm -f "$log".[0-9]*
  if [[ $status -ne 0 ]] || grep -qE 'ERROR SUMMARY: [1-9]' "$log"; then
    failed+=("$t")
    echo "valgrind: $t: errors (status $status), see $log and $log.out" >&2
  fi
done
if ((${#failed[@]})); then
  printf 'valgrind: memory errors or leaks in: %s\n' "${failed[*]}" >&2
  exit 1
fi
echo "valgrind: ${#tests[@]} unit test binaries clean" >&2
