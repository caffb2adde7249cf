#!/usr/bin/env bash
# The independent Avro client of the schema-registry tests: Confluent's Python
# client with its Avro deserializer (confluent-kafka[avro], which brings
# fastavro) from PyPI, in a virtualenv at .deps/avro-client. Test tooling only,
# never used by the product. Idempotent and quiet when already there; called by
# scripts/deps.sh. Needs python3-venv (Debian).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="2.16.1"
venv="$root/.deps/avro-client"
stamp="$venv/.version"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then exit 0; fi

if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  echo "avro-client-deps: installing Debian package python3-venv" >&2
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv >&2
fi

echo "avro-client-deps: installing confluent-kafka[avro] $version (PyPI) into .deps/avro-client" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "confluent-kafka[avro]==$version" >&2
"$venv/bin/python" -c 'import confluent_kafka.schema_registry.avro, fastavro'
echo "$version" >"$stamp"
