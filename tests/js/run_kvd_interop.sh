#!/usr/bin/env bash
# End-to-end test of kvd with the JavaScript NATS client (an independent
# "any language" client): starts nats-server on a free port and a standalone
# //kv:kvd (--replication=false), then runs tests/js/kvd_interop.mjs against
# them. Cleans up on any exit; exits non-zero on failure. Works from any
# directory (tools/test.sh calls it from the repository root).
set -euo pipefail
name=run_kvd_interop
# shellcheck source=tests/js/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_npm
kvd="$(built //kv:kvd kv/kvd)"
kvctl="$(built //tools:kvctl tools/kvctl)"
# The op names come from the API table (kv/codec/ops.h), through kvctl's help.
ops="$("${kvctl}" help | sed -n 's/.*nats req kv\.default\.\([a-z_]*\) .*/\1/p' | paste -sd, -)"
[ -n "${ops}" ] || fail "no operations in kvctl help"
start_nats_server
start kvd 'service kv ' "${kvd}" --server="${url}" --replication=false
kvd_pid=${last_pid}
(cd "${here}" && node kvd_interop.mjs "${url}" "${ops}") || fail "interop checks failed"
stop_cleanly "${kvd_pid}"  # kvd drains and exits 0 on SIGTERM
grep -q 'stopped' "${work}/kvd.log" || fail "kvd did not log 'stopped'"
echo "${name}: OK"
