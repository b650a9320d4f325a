#!/usr/bin/env bash
# Interoperability test of micro/ with the JavaScript NATS services client:
# starts nats-server on a free port and //micro:micro_demo, then runs
# tests/js/micro_interop.mjs against them. Cleans up on any exit; exits
# non-zero on failure. Works from any directory (tools/test.sh calls it from
# the repository root after `bazel build //...`).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/micro-interop.XXXXXX")"
server_pid=""
demo_pid=""

cleanup() {
  local pid
  for pid in "${demo_pid}" "${server_pid}"; do
    if [[ -n "${pid}" ]] && kill -0 "${pid}" 2>/dev/null; then
      kill -TERM "${pid}" 2>/dev/null || true
      for _ in $(seq 1 50); do
        kill -0 "${pid}" 2>/dev/null || break
        sleep 0.1
      done
      kill -KILL "${pid}" 2>/dev/null || true
      wait "${pid}" 2>/dev/null || true
    fi
  done
  rm -rf "${work}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "run_micro_interop: $*" >&2
  for f in "${work}"/*.log; do
    [[ -f "${f}" ]] && { echo "--- ${f##*/}" >&2; cat "${f}" >&2; }
  done
  exit 1
}

# Waits up to $2 seconds (in 0.1 s steps) for command $1 to succeed.
wait_until() {
  local cond="$1" tries=$(( $2 * 10 ))
  for _ in $(seq 1 "${tries}"); do
    eval "${cond}" && return 0
    sleep 0.1
  done
  return 1
}

# The JavaScript client, once.
if [[ ! -d "${here}/node_modules/@nats-io/services" ||
      ! -d "${here}/node_modules/@nats-io/transport-node" ]]; then
  (cd "${here}" && npm install --no-package-lock --no-audit --no-fund) ||
    fail "npm install failed"
fi

# The demo binary of the current default configuration (a no-op build when
# `bazel build //...` ran before).
(cd "${root}" && bazel build //micro:micro_demo) || fail "bazel build failed"
demo="$(cd "${root}" && bazel info bazel-bin 2>/dev/null)/micro/micro_demo"
[[ -x "${demo}" ]] || fail "no ${demo}"

# nats-server on a port the kernel picks.
/usr/sbin/nats-server -a 127.0.0.1 -p -1 --ports_file_dir "${work}" \
  >"${work}/nats-server.log" 2>&1 &
server_pid=$!
ports_file="${work}/nats-server_${server_pid}.ports"
wait_until "[[ -s '${ports_file}' ]] && grep -q 'nats://' '${ports_file}'" 10 ||
  fail "nats-server did not start"
url="$(grep -o 'nats://[0-9.]*:[0-9]*' "${ports_file}" | head -n 1)"
[[ -n "${url}" ]] || fail "no client URL in ${ports_file}"

"${demo}" --url="${url}" >"${work}/micro_demo.log" 2>&1 &
demo_pid=$!
wait_until "grep -q 'micro_demo ready' '${work}/micro_demo.log'" 20 ||
  fail "micro_demo did not become ready"

(cd "${here}" && node micro_interop.mjs "${url}") || fail "interop checks failed"

# The demo stops cleanly (drains) on SIGTERM.
kill -TERM "${demo_pid}"
wait "${demo_pid}" || fail "micro_demo exited with status $?"
demo_pid=""
echo "run_micro_interop: OK"
