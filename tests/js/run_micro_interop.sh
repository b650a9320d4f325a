#!/usr/bin/env bash
# Interoperability test of micro/ with the JavaScript NATS services client:
# starts nats-server on a free port and //micro:micro_demo, then runs
# tests/js/micro_interop.mjs against them. Cleans up on any exit; exits
# non-zero on failure. Works from any directory (tools/test.sh calls it from
# the repository root after `bazel build //...`).
set -euo pipefail
name=run_micro_interop
# shellcheck source=tests/js/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_npm
demo="$(built //micro:micro_demo micro/micro_demo)"
start_nats_server
start micro_demo 'micro_demo ready' "${demo}" --url="${url}"
demo_pid=${last_pid}
(cd "${here}" && node micro_interop.mjs "${url}") || fail "interop checks failed"
stop_cleanly "${demo_pid}"  # the demo drains on SIGTERM
echo "${name}: OK"
