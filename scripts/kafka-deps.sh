#!/usr/bin/env bash
# Fetch a single-node Apache Kafka broker for the real-broker tests: Debian's
# OpenJDK 17 and Maven (installed only if missing), then the broker jars with
# their runtime dependencies from Maven Central into .deps/kafka/libs/, or a
# copy of them kept by an earlier run in the deps cache (scripts/maven-deps.sh).
# Idempotent and quiet when everything is already there; called by
# scripts/deps.sh. MM_KAFKA_VERSION overrides the broker version.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${MM_KAFKA_VERSION:-4.1.1}"
dest="$root/.deps/kafka"
stamp="$dest/libs/.version"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then exit 0; fi

# shellcheck source=scripts/maven-deps.sh
source "$root/scripts/maven-deps.sh"
maven_tools kafka-deps
key="kafka-$version"
if maven_restore "$key" "$dest/libs"; then
  echo "kafka-deps: Apache Kafka $version jars copied from $maven_cache_dir/$key" >&2
  echo "$version" >"$stamp"
  exit 0
fi

echo "kafka-deps: fetching Apache Kafka $version (kafka_2.13 and its runtime dependencies) into .deps/kafka/libs" >&2
work="$dest/resolve"
rm -rf "$dest/libs" "$work"
mkdir -p "$work"
# The broker logs through SLF4J to log4j2; kafka_2.13's pom brings both as runtime dependencies.
cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>manymodels.test</groupId>
  <artifactId>kafka-broker-libs</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$version</version>
    </dependency>
  </dependencies>
</project>
POM
maven_setup "$dest"
mvn "${MAVEN_ARGS[@]}" -f "$work/pom.xml" \
  dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dest/libs" >&2
echo "$version" >"$stamp"
rm -rf "$work"
maven_keep "$key" "$dest/libs"
