#!/usr/bin/env bash
# The test suite: install what is missing, build, run every test (unit,
# integration: dev broker, Azurite, and faults: injected failures), then build
# again with AddressSanitizer and UndefinedBehaviorSanitizer and run the suite
# under them.
#
# Both brokers: the integration suites run against mm-devbroker, and the
# end-to-end ones (ingest, pipeline, classification pipeline, restart, the
# Kafka wrappers; label "kafka") again against a single-node Apache Kafka
# broker (MM_TEST_BROKER=kafka, docs/testing.md). The real-broker variants run
# in the plain pass only: the C code they drive is the same, and a JVM per
# test under a 3x sanitizer timeout would double the suite's time.
#   MM_TEST_SANITIZE=0        skip the sanitizer pass
#   MM_TEST_LABEL=unit        run only one label (unit|integration|faults|kafka)
#   MM_TEST_REAL_KAFKA=0      leave out the real-broker variants (label kafka)
#   MM_SKIP_REAL_KAFKA=1      the same, for a machine without Java (they skip)
#   MM_SKIP_SCHEMA_REGISTRY=1 skip the real schema-registry test (Apicurio; else it fails
#                             without the build of scripts/schema-registry-deps.sh)
#   MM_TEST_FUZZ=0            skip the fuzz pass (libFuzzer targets built with clang,
#                             each run MM_FUZZ_SECONDS, 45 by default; label fuzz)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/deps.sh"
jobs="$(nproc 2>/dev/null || echo 2)"
label_args=()
if [[ -n "${MM_TEST_LABEL:-}" ]]; then label_args=(-L "$MM_TEST_LABEL"); fi

plain_args=()
if [[ "${MM_TEST_REAL_KAFKA:-1}" != 1 ]]; then plain_args=(-LE kafka); fi

# run_suite BUILD_DIR "CTEST ARGS..." CMAKE ARGS...
run_suite() {
  local build="$1" extra="$2"; shift 2
  MM_BUILD_DIR="$build" "$root/scripts/build.sh" "$@"
  # shellcheck disable=SC2086 # extra is a list of ctest arguments
  (cd "$build" && ctest --output-on-failure -j "$jobs" "${label_args[@]}" $extra)
}

echo "== tests (mm-devbroker and a real Kafka broker) ==" >&2
run_suite "$root/build" "${plain_args[*]}"
if [[ "${MM_TEST_SANITIZE:-1}" == 1 ]]; then
  echo "== tests under ASan/UBSan (mm-devbroker) ==" >&2
  CRITERION_NO_EARLY_EXIT=1 ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    MM_TEST_TIMEOUT_MULT=3 run_suite "$root/build-sanitize" "-LE kafka" -DMM_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
fi
if [[ "${MM_TEST_FUZZ:-1}" == 1 && ( -z "${MM_TEST_LABEL:-}" || "${MM_TEST_LABEL}" == fuzz ) ]]; then
  echo "== fuzz targets (libFuzzer, clang) ==" >&2
  fuzz_args=(-DCMAKE_C_COMPILER=clang -DMM_FUZZ=ON)
  if [[ -n "${MM_FUZZ_SECONDS:-}" ]]; then fuzz_args+=(-DMM_FUZZ_SECONDS="$MM_FUZZ_SECONDS"); fi
  MM_BUILD_DIR="$root/build-fuzz" MM_BUILD_TARGETS="fuzz_avro fuzz_csv fuzz_spec fuzz_model fuzz_blob_xml fuzz_http" \
    "$root/scripts/build.sh" "${fuzz_args[@]}"
  (cd "$root/build-fuzz" && ctest --output-on-failure -j "$jobs" -L fuzz)
fi
