#!/usr/bin/env bash
# The test suite: install what is missing, build, run every test (unit,
# integration: dev broker, Azurite, and faults: injected failures), then build
# again with AddressSanitizer and UndefinedBehaviorSanitizer and run the suite
# under them.
#   MM_TEST_SANITIZE=0   skip the sanitizer pass
#   MM_TEST_LABEL=unit   run only one label (unit|integration|faults|fuzz)
#   MM_TEST_FUZZ=0       skip the fuzz pass (libFuzzer targets built with clang,
#                        each run MM_FUZZ_SECONDS, 45 by default)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/deps.sh"
jobs="$(nproc 2>/dev/null || echo 2)"
label_args=()
if [[ -n "${MM_TEST_LABEL:-}" ]]; then label_args=(-L "$MM_TEST_LABEL"); fi

run_suite() {
  local build="$1"; shift
  MM_BUILD_DIR="$build" "$root/scripts/build.sh" "$@"
  (cd "$build" && ctest --output-on-failure -j "$jobs" "${label_args[@]}")
}

echo "== tests ==" >&2
run_suite "$root/build"
if [[ "${MM_TEST_SANITIZE:-1}" == 1 ]]; then
  echo "== tests under ASan/UBSan ==" >&2
  CRITERION_NO_EARLY_EXIT=1 ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    MM_TEST_TIMEOUT_MULT=3 run_suite "$root/build-sanitize" -DMM_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
fi
if [[ "${MM_TEST_FUZZ:-1}" == 1 && ( -z "${MM_TEST_LABEL:-}" || "${MM_TEST_LABEL}" == fuzz ) ]]; then
  echo "== fuzz targets (libFuzzer, clang) ==" >&2
  fuzz_args=(-DCMAKE_C_COMPILER=clang -DMM_FUZZ=ON)
  if [[ -n "${MM_FUZZ_SECONDS:-}" ]]; then fuzz_args+=(-DMM_FUZZ_SECONDS="$MM_FUZZ_SECONDS"); fi
  MM_BUILD_DIR="$root/build-fuzz" MM_BUILD_TARGETS="fuzz_avro fuzz_csv fuzz_spec fuzz_model fuzz_blob_xml" \
    "$root/scripts/build.sh" "${fuzz_args[@]}"
  (cd "$root/build-fuzz" && ctest --output-on-failure -j "$jobs" -L fuzz)
fi
