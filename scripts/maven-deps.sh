# Sourced by scripts/kafka-deps.sh and scripts/schema-registry-deps.sh: the
# Maven steps both take (test tooling only, never used by the product).
#
#   maven_tools NAME [jdk]        Debian's OpenJDK 17 (the JRE, or the JDK when
#                                 javac is needed: "jdk") and Maven, installed
#                                 only if missing; NAME prefixes the messages
#   maven_setup DEST              MAVEN_ARGS: batch mode, quiet, every repository
#                                 mirrored to Maven Central (POMs name others),
#                                 and the local repository: the shared cache's
#                                 m2/ (below), else DEST/m2
#   maven_restore KEY DEST        copy a result cached under KEY to DEST
#                                 (replacing it); false when there is none
#   maven_keep KEY SRC            cache SRC under KEY for the next clone
#
# The cache: $MM_DEPS_CACHE, by default ${XDG_CACHE_HOME:-~/.cache}/manymodels;
# MM_DEPS_CACHE= (empty) keeps everything in .deps/ as a fresh machine would.
# It holds the Maven repository (shared by both scripts) and each script's
# finished result under a key naming its versions, so a second clone on the
# same machine copies the Kafka jars and the Apicurio build instead of
# resolving and building them again.

maven_cache_dir=""
if [[ -n "${MM_DEPS_CACHE-${XDG_CACHE_HOME:-${HOME:-}/.cache}/manymodels}" ]]; then
  maven_cache_dir="${MM_DEPS_CACHE-${XDG_CACHE_HOME:-${HOME:-}/.cache}/manymodels}"
  mkdir -p "$maven_cache_dir" 2>/dev/null || maven_cache_dir=""
fi

maven_tools() {
  local name="$1" missing=()
  command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
  if [[ "${2:-}" == jdk ]]; then
    command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
  fi
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  ((${#missing[@]})) || return 0
  echo "$name: installing Debian packages: ${missing[*]}" >&2
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

maven_setup() {
  local dest="$1" m2="$1/m2"
  if [[ -n "$maven_cache_dir" ]]; then m2="$maven_cache_dir/m2"; fi
  mkdir -p "$dest" "$m2"
  cat >"$dest/maven-settings.xml" <<'XML'
<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <mirrors>
    <mirror>
      <id>central-only</id>
      <mirrorOf>*</mirrorOf>
      <url>https://repo.maven.apache.org/maven2</url>
    </mirror>
  </mirrors>
</settings>
XML
  MAVEN_ARGS=(-B -q -s "$dest/maven-settings.xml" -Dmaven.repo.local="$m2")
}

maven_restore() {
  local key="$1" dest="$2"
  [[ -n "$maven_cache_dir" && -f "$maven_cache_dir/$key/.complete" ]] || return 1
  rm -rf "$dest"
  mkdir -p "$(dirname "$dest")"
  cp -a "$maven_cache_dir/$key/result" "$dest"
}

maven_keep() {
  local key="$1" src="$2"
  [[ -n "$maven_cache_dir" ]] || return 0
  local tmp="$maven_cache_dir/$key.tmp.$$"
  rm -rf "$tmp" "$maven_cache_dir/$key"
  mkdir -p "$tmp"
  cp -a "$src" "$tmp/result"
  touch "$tmp/.complete"
  mv "$tmp" "$maven_cache_dir/$key" 2>/dev/null || rm -rf "$tmp" # another run kept it first
}
