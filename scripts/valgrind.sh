#!/usr/bin/env bash
# Run the unit tests under Valgrind memcheck, one test binary at a time, every
# Criterion test process traced, and print a table of the findings
# (docs/testing.md, "Valgrind"; last results in docs/reliability.md):
#   scripts/valgrind.sh              every test of the CTest label "unit"
#   scripts/valgrind.sh test_redact  the unit tests whose name matches
# Builds a plain Debug build (no sanitizers) into build-valgrind/ first
# (MM_BUILD_DIR to change, MM_VALGRIND_BUILD=0 to skip the build). Each test's
# memcheck reports are kept in <build>/valgrind/<test>.log, its own output in
# <test>.log.out. A test counts as failed on any memcheck error (invalid
# read/write, uninitialised value, bad free...), any definite or indirect
# leak, a non-zero exit or its time limit (MM_VALGRIND_TIMEOUT seconds per
# test binary, default 14400). Exits 1 if any test failed. The suppressions of
# tests/valgrind.supp each say why the finding is not ours.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MM_BUILD_DIR:-$root/build-valgrind}"
limit="${MM_VALGRIND_TIMEOUT:-14400}"
command -v valgrind >/dev/null || { echo "valgrind: not installed (apt-get install valgrind)" >&2; exit 2; }
if [[ "${MM_VALGRIND_BUILD:-1}" != 0 ]]; then
  MM_BUILD_DIR="$build" nice -n 10 "$root/scripts/build.sh" -DCMAKE_BUILD_TYPE=Debug \
    -DMM_SANITIZE=OFF >/dev/null
fi
out="$build/valgrind"
mkdir -p "$out"
mapfile -t tests < <(cd "$build" && ctest -L unit -N ${1:+-R "$1"} | sed -n 's/^ *Test *#[0-9]*: *//p')

# sum_field <log> <awk regex before the number>: the sum over every traced process
sum_field() {
  awk -v pat="$2" '$0 ~ pat { s = $0; sub(".*" pat " *", "", s); gsub(",", "", s); n += s + 0 }
                   END { print n + 0 }' "$1"
}

rows=()
failed=()
total_start=$SECONDS
for t in "${tests[@]}"; do
  bin="$build/tests/$t"
  if [[ ! -x "$bin" ]]; then # scripts (format, layers, config doc): no C of ours to run
    rows+=("$(printf '%-28s %s' "$t" 'skipped: not a C test binary')")
    continue
  fi
  log="$out/$t.log"
  rm -f "$log" "$log".[0-9]*
  echo "valgrind: $t" >&2
  start=$SECONDS
  status=0
  # Criterion's own timeout is per test; memcheck runs 20-50x slower. timeout(1)
  # signals its whole process group: valgrind, the Criterion workers, and the
  # service binaries a test starts (they also die with their parent).
  MM_TEST_TIMEOUT_MULT=30 timeout --kill-after=60 "$limit" \
    nice -n 10 valgrind --trace-children=yes --trace-children-skip='*/sh,*/bash,*/openssl' \
    --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --show-leak-kinds=definite,indirect --track-origins=yes --error-exitcode=99 \
    --suppressions="$root/tests/valgrind.supp" --log-file="$log.%p" \
    "$bin" --jobs=1 --timeout=3600 >"$log.out" 2>&1 || status=$?
  secs=$((SECONDS - start))
  cat "$log".[0-9]* >"$log" 2>/dev/null || true
  rm -f "$log".[0-9]*
  procs=$(grep -c 'ERROR SUMMARY' "$log" || true)
  errors=$(sum_field "$log" 'ERROR SUMMARY:')
  definite=$(sum_field "$log" 'definitely lost:')
  indirect=$(sum_field "$log" 'indirectly lost:')
  result=clean
  if [[ $status -eq 124 || $status -eq 137 ]]; then
    result="timed out after ${limit}s"
  elif [[ $status -ne 0 || $errors -ne 0 || $definite -ne 0 || $indirect -ne 0 ]]; then
    result="FAILED (exit $status)"
  fi
  [[ $result == clean ]] || failed+=("$t")
  rows+=("$(printf '%-28s %6d %7d %9d %9d %7ds  %s' "$t" "$procs" "$errors" "$definite" \
    "$indirect" "$secs" "$result")")
  echo "valgrind: $t: $result, $errors errors, $definite+$indirect bytes lost, ${secs}s" >&2
done

printf '\n%-28s %6s %7s %9s %9s %8s  %s\n' test procs errors definite indirect time result
printf '%s\n' "${rows[@]}"
printf 'valgrind %s, %d s in all, reports in %s\n' "$(valgrind --version)" \
  $((SECONDS - total_start)) "$out"
if ((${#failed[@]})); then
  printf 'valgrind: memory errors, leaks or failures in: %s\n' "${failed[*]}" >&2
  exit 1
fi
echo "valgrind: every unit test binary clean" >&2
