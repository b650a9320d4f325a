#!/usr/bin/env bash
# Installs the Debian packages natskv needs, when missing (Debian 12; root or sudo).
# Sourced by tools/test.sh and tools/run.sh; safe to run again.
set -euo pipefail

NATSKV_PACKAGES=(
  bazel-bootstrap bazel-rules-cc bazel-rules-java
  g++ libnats-dev nats-server libabsl-dev libcereal-dev rapidjson-dev
  googletest libgtest-dev libbenchmark-dev libssl-dev openssl
  clang clang-format libsystemd-dev
  libcivetweb-dev prometheus zlib1g-dev jq
  golang-go golang-github-nats-io-go-nats-dev
)

natskv_missing_packages() {
  local p
  for p in "${NATSKV_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
      echo "$p"
  done
  # Node.js runs the interoperability tests; any node >= 18 will do.
  command -v node >/dev/null 2>&1 || echo nodejs
  command -v npm >/dev/null 2>&1 || echo npm
}

natskv_install_deps() {
  local missing
  missing=$(natskv_missing_packages | sort -u | tr '\n' ' ')
  [ -z "${missing// /}" ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
      echo "natskv: missing packages ($missing) and not root; install them first." >&2
      return 1
    }
    sudo=sudo
  fi
  echo "natskv: installing $missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  # apt-get update only when the package lists cannot provide what is missing.
  # shellcheck disable=SC2086
  if ! $sudo apt-get install -y -q --no-install-recommends $missing >&2; then
    $sudo apt-get update -q >&2
    # shellcheck disable=SC2086
    $sudo apt-get install -y -q --no-install-recommends $missing >&2
  fi
}
