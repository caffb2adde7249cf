#!/usr/bin/env bash
# The test suite, in three passes (docs/testing.md, "What scripts/test.sh runs"):
#  1. plain (RelWithDebInfo, build/): every test - unit, integration (dev broker,
#     Azurite), faults (injected failures), deploy, and label kafka: the
#     end-to-end suites again on a real Apache Kafka broker
#     (MM_TEST_BROKER=kafka, docs/testing.md);
#  2. ASan/UBSan (build-sanitize/): the tests labelled "asan" - every unit and
#     deploy test and the integration and fault tests chosen for the
#     memory-heavy and concurrent paths they drive (tests/CMakeLists.txt); the
#     real-broker variants are never run there: the C code they drive is the
#     same, and a JVM per test under a 3x sanitizer timeout would double the
#     suite's time;
#  3. fuzz (build-fuzz/, clang): the libFuzzer targets, MM_FUZZ_SECONDS each,
#     two at a time on two cores.
# CTest runs MM_TEST_JOBS tests at once (2 per core by default: most
# integration and fault tests wait on brokers and services; the tests that
# need CPU in time count double, tests/CMakeLists.txt, "scheduling").
#   MM_TEST_SANITIZE=0        skip the sanitizer pass
#   MM_TEST_SANITIZE=all      run every test but label kafka under the sanitizers
#   MM_TEST_LABEL=unit        run only one label (unit|integration|faults|kafka|deploy|fuzz)
#   MM_TEST_JOBS=N            tests at once in the plain and sanitizer passes
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
test_jobs="${MM_TEST_JOBS:-$((2 * jobs))}"
label_args=()
if [[ -n "${MM_TEST_LABEL:-}" ]]; then label_args=(-L "$MM_TEST_LABEL"); fi

plain_args=()
if [[ "${MM_TEST_REAL_KAFKA:-1}" != 1 ]]; then plain_args=(-LE kafka); fi

sanitize="${MM_TEST_SANITIZE:-1}"
fuzz=0
if [[ "${MM_TEST_FUZZ:-1}" == 1 && ( -z "${MM_TEST_LABEL:-}" || "${MM_TEST_LABEL}" == fuzz ) ]]; then fuzz=1; fi
sanitize_build() {
  MM_BUILD_DIR="$root/build-sanitize" "$root/scripts/build.sh" -DMM_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
}
fuzz_build() {
  local fuzz_args=(-DCMAKE_C_COMPILER=clang -DMM_FUZZ=ON)
  if [[ -n "${MM_FUZZ_SECONDS:-}" ]]; then fuzz_args+=(-DMM_FUZZ_SECONDS="$MM_FUZZ_SECONDS"); fi
  MM_BUILD_DIR="$root/build-fuzz" MM_BUILD_TARGETS="fuzz_avro fuzz_csv fuzz_spec fuzz_model fuzz_blob_xml fuzz_http" \
    "$root/scripts/build.sh" "${fuzz_args[@]}"
}
ctest_run() { # BUILD_DIR JOBS CTEST ARGS...
  local build="$1" j="$2"; shift 2
  (cd "$build" && ctest --output-on-failure -j "$j" "$@")
}

echo "== tests (mm-devbroker and a real Kafka broker) ==" >&2
MM_BUILD_DIR="$root/build" "$root/scripts/build.sh"
# The plain tests mostly wait (on brokers, services, sleeps) and leave the
# cores largely idle: the sanitizer and fuzz trees are built meanwhile, at the
# lowest priority so the tests keep the CPU they need, into a log of their own.
prebuild=""
prebuild_log="$root/build/prebuild.log"
if [[ "$sanitize" != 0 || "$fuzz" == 1 ]]; then
  set -m # its own process group, ended with this script
  (
    renice -n 19 -p "$BASHPID" >/dev/null
    if [[ "$sanitize" != 0 ]]; then sanitize_build; fi
    if [[ "$fuzz" == 1 ]]; then fuzz_build; fi
  ) >"$prebuild_log" 2>&1 &
  prebuild=$!
  set +m
  trap 'kill -- -"$prebuild" 2>/dev/null || true' EXIT
fi
ctest_run "$root/build" "$test_jobs" "${label_args[@]}" "${plain_args[@]}"
if [[ -n "$prebuild" ]]; then
  if ! wait "$prebuild"; then
    echo "== building the sanitizer and fuzz trees failed ($prebuild_log) ==" >&2
    cat "$prebuild_log" >&2
    exit 1
  fi
  trap - EXIT
fi

if [[ "$sanitize" != 0 ]]; then
  sanitize_tests=(-L asan -LE kafka)
  if [[ "$sanitize" == all ]]; then sanitize_tests=(-LE kafka); fi
  echo "== tests under ASan/UBSan (mm-devbroker; ${sanitize_tests[*]}) ==" >&2
  sanitize_build # built already: only checks
  CRITERION_NO_EARLY_EXIT=1 ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    MM_TEST_TIMEOUT_MULT=3 ctest_run "$root/build-sanitize" "$test_jobs" "${label_args[@]}" "${sanitize_tests[@]}"
fi
if [[ "$fuzz" == 1 ]]; then
  echo "== fuzz targets (libFuzzer, clang), $jobs at a time ==" >&2
  fuzz_build # built already: only checks
  ctest_run "$root/build-fuzz" "$jobs" -L fuzz
fi
