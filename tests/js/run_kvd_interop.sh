#!/usr/bin/env bash
# End-to-end test of kvd with the JavaScript NATS client (an independent
# "any language" client): starts nats-server on a free port and a standalone
# //kv:kvd (--replication=false), then runs tests/js/kvd_interop.mjs against
# them. Cleans up on any exit; exits non-zero on failure. Works from any
# directory (tools/test.sh calls it from the repository root after
# `bazel test //...`).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/kvd-interop.XXXXXX")"
server_pid=""
kvd_pid=""

cleanup() {
  local pid
  for pid in "${kvd_pid}" "${server_pid}"; do
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
  echo "run_kvd_interop: $*" >&2
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

# The kvd binary of the current default configuration (a no-op build when
# `bazel build //...` ran before).
(cd "${root}" && bazel build //kv:kvd) || fail "bazel build failed"
kvd="$(cd "${root}" && bazel info bazel-bin 2>/dev/null)/kv/kvd"
[[ -x "${kvd}" ]] || fail "no ${kvd}"

# nats-server on a port the kernel picks.
/usr/sbin/nats-server -a 127.0.0.1 -p -1 --ports_file_dir "${work}" \
  >"${work}/nats-server.log" 2>&1 &
server_pid=$!
ports_file="${work}/nats-server_${server_pid}.ports"
wait_until "[[ -s '${ports_file}' ]] && grep -q 'nats://' '${ports_file}'" 10 ||
  fail "nats-server did not start"
url="$(grep -o 'nats://[0-9.]*:[0-9]*' "${ports_file}" | head -n 1)"
[[ -n "${url}" ]] || fail "no client URL in ${ports_file}"

"${kvd}" --server="${url}" --replication=false >"${work}/kvd.log" 2>&1 &
kvd_pid=$!
wait_until "grep -q 'service kv ' '${work}/kvd.log'" 20 ||
  fail "kvd did not start serving"

(cd "${here}" && node kvd_interop.mjs "${url}") || fail "interop checks failed"

# kvd drains and exits 0 on SIGTERM.
kill -TERM "${kvd_pid}"
status=0
wait "${kvd_pid}" || status=$?
kvd_pid=""
[[ "${status}" -eq 0 ]] || fail "kvd exited with status ${status}"
grep -q 'stopped' "${work}/kvd.log" || fail "kvd did not log 'stopped'"
echo "run_kvd_interop: OK"
