#!/usr/bin/env bash
# Install the tools that validate the deployment files (tests/deploy/,
# docs/deployment.md "Validation"), only where missing, idempotent and silent
# when everything is there:
#   - docker-compose (Debian's package) for `docker-compose config`;
#   - kustomize and kubeconform, built with `go install` from the Go module
#     proxy into .deps/deploy/bin/ (pinned versions below);
#   - PyYAML (Debian's python3-yaml) for tests/deploy/*.py.
# Go: the one on PATH (or /usr/local/go/bin) when it is 1.22 or newer;
# otherwise Debian's golang-go, and, because bookworm's is 1.19, a newer Go
# toolchain fetched as the Go module golang.org/toolchain into .deps/deploy/go.
#   MM_KUSTOMIZE_VERSION, MM_KUBECONFORM_VERSION, MM_GO_TOOLCHAIN  override the pins
#   MM_DEPLOY_GO_TOOLCHAIN=1  use the toolchain module even where a new Go exists
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deps="$root/.deps/deploy"
bin="$deps/bin"
kustomize_version="${MM_KUSTOMIZE_VERSION:-v5.5.0}"
kubeconform_version="${MM_KUBECONFORM_VERSION:-v0.6.7}"
go_toolchain="${MM_GO_TOOLCHAIN:-go1.23.4}"

say() { echo "deploy-deps: $*" >&2; }

apt_install() {
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  say "installing Debian packages: $*"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >&2
}

missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
/usr/bin/python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
if ((${#missing[@]})); then apt_install "${missing[@]}"; fi

# A binary is current when it exists and a stamp names the pinned version.
current() { [[ -x "$bin/$1" && "$(cat "$bin/$1.version" 2>/dev/null)" == "$2" ]]; }
if current kustomize "$kustomize_version" && current kubeconform "$kubeconform_version"; then
  exit 0
fi

go_minor() { "$1" env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p'; }
find_go() {
  local g
  for g in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go /usr/lib/go/bin/go; do
    [[ -n "$g" && -x "$g" ]] || continue
    local m
    m="$(go_minor "$g")"
    if [[ -n "$m" && "$m" -ge 22 ]]; then
      echo "$g"
      return 0
    fi
  done
  return 1
}

go_bin=""
# MM_DEPLOY_GO_TOOLCHAIN=1 takes the toolchain module even where a new Go exists.
if [[ "${MM_DEPLOY_GO_TOOLCHAIN:-0}" != 1 ]]; then go_bin="$(find_go || true)"; fi
if [[ -z "$go_bin" && -x "$deps/go/bin/go" ]]; then go_bin="$deps/go/bin/go"; fi
if [[ -z "$go_bin" && "${MM_DEPLOY_GO_TOOLCHAIN:-0}" == 1 ]]; then
  PATH="$(command -v go >/dev/null 2>&1 && dirname "$(command -v go)" || echo /usr/local/go/bin):$PATH"
fi
if [[ -z "$go_bin" ]]; then
  old_go="$(command -v go 2>/dev/null || true)"
  if [[ -z "$old_go" ]]; then
    apt_install golang-go
    old_go="$(command -v go)"
  fi
  # The toolchain module carries a complete Go distribution; `go mod download`
  # fetches it (outside any module) like any other module.
  say "fetching the Go toolchain module golang.org/toolchain ($go_toolchain) into .deps/deploy/go"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  mod_dir="$(cd "$tmp" && GOPATH="$deps/gopath" GOFLAGS= GO111MODULE=on \
    "$old_go" mod download -json "golang.org/toolchain@v0.0.1-${go_toolchain}.linux-$("$old_go" env GOARCH)" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  if [[ -z "$mod_dir" || ! -f "$mod_dir/bin/go" ]]; then
    say "could not fetch the Go toolchain module; install Go 1.22 or newer and run scripts/deps.sh again"
    exit 1
  fi
  rm -rf "$deps/go"
  cp -a "$mod_dir" "$deps/go"
  chmod -R u+w "$deps/go" "$deps/gopath"
  rm -rf "$deps/gopath"
  # Module zips keep no file modes: the toolchain's programs need theirs back.
  find "$deps/go/bin" "$deps/go/pkg/tool" -type f -exec chmod +x {} +
  go_bin="$deps/go/bin/go"
fi

mkdir -p "$bin"
install_tool() { # name module version
  if current "$1" "$3"; then return 0; fi
  say "building $1 $3 with $("$go_bin" env GOVERSION) (go install $2@$3)"
  GOBIN="$bin" GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0 nice "$go_bin" install "$2@$3" >&2
  echo "$3" >"$bin/$1.version"
}
install_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$kustomize_version"
install_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$kubeconform_version"
