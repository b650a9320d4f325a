#!/usr/bin/env bash
# End-to-end test of kvd with the Go NATS client (nats.go from Debian's
# golang-github-nats-io-go-nats-dev, built offline in GOPATH mode): starts
# nats-server on a free port and a standalone //kv:kvd (--replication=false),
# then runs tests/go/kvd_interop against them. Cleans up on any exit; exits
# non-zero on failure. Works from any directory (tools/test.sh calls it from
# the repository root).
set -euo pipefail
name=run_go_kvd_interop
# The shared steps (work directory, cleanup, builds, nats-server) of the
# JavaScript scripts.
# shellcheck source=tests/js/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../js/lib.sh"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

command -v go >/dev/null || fail "no go: apt-get install golang-go"
[[ -d /usr/share/gocode/src/github.com/nats-io/nats.go/micro ]] ||
  fail "no nats.go: apt-get install golang-github-nats-io-go-nats-dev"
(cd "${here}/kvd_interop" &&
  GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="${work}/gocache" GOFLAGS= \
    go build -o "${work}/kvd_interop" .) || fail "go build failed"

kvd="$(built //kv:kvd kv/kvd)"
kvctl="$(built //tools:kvctl tools/kvctl)"
# The op names come from the API table (kv/codec/ops.h), through kvctl's help.
ops="$("${kvctl}" help | sed -n 's/.*nats req kv\.default\.\([a-z_]*\) .*/\1/p' | paste -sd, -)"
[ -n "${ops}" ] || fail "no operations in kvctl help"
start_nats_server
start kvd 'service kv ' "${kvd}" --server="${url}" --replication=false
kvd_pid=${last_pid}
"${work}/kvd_interop" "${url}" "${ops}" || fail "interop checks failed"
stop_cleanly "${kvd_pid}"
grep -q 'stopped' "${work}/kvd.log" || fail "kvd did not log 'stopped'"
echo "${name}: OK"
