#!/usr/bin/env bash
# A real Confluent-compatible schema registry for the schema-registry tests:
# Apicurio Registry (its Confluent API at /apis/ccompat/v6 and /v7, in-memory
# H2 storage), built from its application jar on Maven Central into a runnable
# Quarkus application at .deps/apicurio/quarkus-app/quarkus-run.jar, started by
# tests/support/registry_real.c as
#   java -Dquarkus.http.port=PORT -jar .deps/apicurio/quarkus-app/quarkus-run.jar
# Needs Debian's OpenJDK 17 and Maven (installed only if missing; the Maven
# steps shared with scripts/kafka-deps.sh are in scripts/maven-deps.sh). The
# finished build is kept in the deps cache there and copied from it by the
# next clone on the same machine. Idempotent and quiet when already built;
# called by scripts/deps.sh. Test tooling only, never used by the product.
#
# Why this version: Maven Central, as reached from here, serves every artifact
# Apicurio Registry 2.4.2.Final needs with Quarkus 2.16.4.Final (the version it
# was built with) except two, both handled below; the 3.x releases lack
# modules of their own (3.3.3: apicurio-registry-schema-util-provider and nine
# more; 3.0.9: its parent POM, apicurio-registry-config-definitions,
# -protobuf-schema-utilities, -utils-kafka).
#  - com.github.everit-org.json-schema:org.everit.json.schema:1.14.2 was never
#    on Maven Central: the same library is taken as
#    com.github.erosb:everit-json-schema:1.14.2 (same author, same packages).
#  - io.apicurio:apicurio-common-app-components-config-index-deployment:0.1.18.Final
#    (the build step listing the properties changeable at run time) is not
#    served: its runtime half is left out and a producer below supplies its one
#    bean, an empty list, so no property is changeable at run time.
# All repositories are mirrored to Maven Central (the POMs name others).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
apicurio_version="2.4.2.Final"
quarkus_version="2.16.4.Final"
version="$apicurio_version+quarkus-$quarkus_version"
dest="$root/.deps/apicurio"
stamp="$dest/quarkus-app/.version"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then exit 0; fi

# shellcheck source=scripts/maven-deps.sh
source "$root/scripts/maven-deps.sh"
maven_tools schema-registry-deps jdk
key="apicurio-$version"
if maven_restore "$key" "$dest/quarkus-app"; then
  echo "schema-registry-deps: Apicurio Registry build copied from $maven_cache_dir/$key" >&2
  exit 0
fi

echo "schema-registry-deps: building Apicurio Registry $apicurio_version (Quarkus $quarkus_version) into .deps/apicurio/quarkus-app" >&2
work="$dest/build"
rm -rf "$dest/quarkus-app" "$work"
mkdir -p "$work/src/main/resources" "$work/src/main/java/manymodels/registry"
maven_setup "$dest"

cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>manymodels.test</groupId>
  <artifactId>apicurio-registry-runner</artifactId>
  <version>1</version>
  <packaging>jar</packaging>
  <properties>
    <maven.compiler.source>11</maven.compiler.source>
    <maven.compiler.target>11</maven.compiler.target>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <dependencyManagement>
    <dependencies>
      <dependency>
        <groupId>io.quarkus</groupId>
        <artifactId>quarkus-bom</artifactId>
        <version>$quarkus_version</version>
        <type>pom</type>
        <scope>import</scope>
      </dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency>
      <groupId>io.apicurio</groupId>
      <artifactId>apicurio-registry-app</artifactId>
      <version>$apicurio_version</version>
      <exclusions>
        <exclusion>
          <groupId>io.apicurio</groupId>
          <artifactId>apicurio-common-app-components-config-index</artifactId>
        </exclusion>
        <exclusion>
          <groupId>com.github.everit-org.json-schema</groupId>
          <artifactId>org.everit.json.schema</artifactId>
        </exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>com.github.erosb</groupId>
      <artifactId>everit-json-schema</artifactId>
      <version>1.14.2</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>io.quarkus</groupId>
        <artifactId>quarkus-maven-plugin</artifactId>
        <version>$quarkus_version</version>
        <executions>
          <execution>
            <goals><goal>build</goal></goals>
          </execution>
        </executions>
      </plugin>
    </plugins>
  </build>
</project>
POM

cat >"$work/src/main/java/manymodels/registry/DynamicConfigPropertyListProducer.java" <<'JAVA'
package manymodels.registry;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;
import java.util.List;
import javax.enterprise.context.ApplicationScoped;
import javax.enterprise.inject.Produces;

/** The bean config-index-deployment would generate: no property changeable at run time. */
@ApplicationScoped
public class DynamicConfigPropertyListProducer {
  @Produces
  @ApplicationScoped
  DynamicConfigPropertyList dynamicConfigPropertyList() {
    return new DynamicConfigPropertyList(List.of());
  }
}
JAVA

mvn_args=("${MAVEN_ARGS[@]}" -f "$work/pom.xml")
# The registry's own configuration (the application.properties inside its jar),
# then what running it from a dependency jar needs.
mvn "${mvn_args[@]}" dependency:copy -Dartifact="io.apicurio:apicurio-registry-app:$apicurio_version" \
  -DoutputDirectory="$work/app-jar" >&2
python3 - "$work/app-jar/apicurio-registry-app-$apicurio_version.jar" \
  "$work/src/main/resources/application.properties" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    text = z.read("application.properties").decode()
text += """
# Built from the application jar as a dependency: index it as a bean archive,
# and package as a fast jar (quarkus-app/quarkus-run.jar).
quarkus.index-dependency.registry.group-id=io.apicurio
quarkus.index-dependency.registry.artifact-id=apicurio-registry-app
%prod.quarkus.package.type=fast-jar
"""
open(sys.argv[2], "w").write(text)
PY
mvn "${mvn_args[@]}" package >&2
mv "$work/target/quarkus-app" "$dest/quarkus-app"
echo "$version" >"$stamp"
rm -rf "$work"
maven_keep "$key" "$dest/quarkus-app"
