#!/usr/bin/env bash
# Install what manymodels needs on Debian bookworm, only where missing:
# the Debian -dev packages (build), python3 (the layer check), the Python
# reference stack (golden fixtures and benchmarks only), and the npm package
# azurite (the Azure Storage emulator used by the blob tests) into .deps/npm,
# and Apache Kafka's broker jars for the real-broker tests into .deps/kafka
# (scripts/kafka-deps.sh). The Maven results (Kafka's jars, the Apicurio
# build) are also kept in a cache outside the checkout for the next clone
# (MM_DEPS_CACHE, scripts/maven-deps.sh). A second run is a no-op.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

apt_packages=(
  build-essential cmake pkg-config clang-format
  librdkafka-dev libavro-dev libjansson-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev
  libnlopt-dev liblapacke-dev libopenblas-dev libxgboost-dev libmicrohttpd-dev
  libcriterion-dev
  nodejs npm jq python3
)
apt_packages+=(openssl)  # the serve TLS test makes a self-signed pair with the openssl CLI
[[ "${MM_DEPS_BENCH:-0}" == 1 ]] && apt_packages+=(wrk curl)  # bench/serving: load generator, probes
apt_packages+=(libpq-dev postgresql)  # PostgreSQL sink (libpq) and the server its tests start
apt_packages+=(chromium)  # the HTML report's rendering test (headless)
apt_packages+=(zlib1g-dev)  # mm-trainer's history chunks (deflate)
apt_packages+=(clang libclang-rt-14-dev)  # libFuzzer targets (tests/fuzz): clang and its fuzzer runtime
if [[ "${MM_DEPS_PYTHON:-0}" == 1 ]]; then
  apt_packages+=(python3-statsmodels python3-sklearn python3-xgboost python3-pandas python3-venv time)
fi

missing=()
for p in "${apt_packages[@]}"; do
  # node/npm may come from elsewhere (e.g. a preinstalled Node.js): accept the commands.
  if [[ "$p" == nodejs ]] && command -v node >/dev/null 2>&1; then continue; fi
  if [[ "$p" == npm ]] && command -v npm >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "deps: installing Debian packages: ${missing[*]}" >&2
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

azurite_bin="$root/.deps/npm/node_modules/.bin/azurite-blob"
if [[ ! -x "$azurite_bin" ]]; then
  echo "deps: installing azurite (npm) into .deps/npm" >&2
  mkdir -p "$root/.deps/npm"
  npm install --prefix "$root/.deps/npm" --no-audit --no-fund --loglevel=error azurite >&2
fi

"$root/scripts/kafka-deps.sh"

# docker-compose, kustomize and kubeconform for the deployment checks (tests/deploy/)
"$root/scripts/deploy-deps.sh"
"$root/scripts/avro-client-deps.sh"  # the schema-registry tests' independent Avro client (PyPI)
"$root/scripts/schema-registry-deps.sh"  # a real schema registry (Apicurio, Maven Central) for its tests
