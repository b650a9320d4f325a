# Shared steps of the JavaScript interoperability scripts (run_*.sh), sourced by
# them: a work directory, cleanup of every process started, the npm client, a
# Bazel-built binary and a nats-server on a free port.
# The sourcing script sets `name` (for messages) before sourcing.

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/${name}.XXXXXX")"
pids=()

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    if kill -0 "${pid}" 2>/dev/null; then
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
  echo "${name}: $*" >&2
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

# Installs the JavaScript clients once.
ensure_npm() {
  if [[ ! -d "${here}/node_modules/@nats-io/services" ||
        ! -d "${here}/node_modules/@nats-io/transport-node" ]]; then
    (cd "${here}" && npm install --no-package-lock --no-audit --no-fund) ||
      fail "npm install failed"
  fi
}

# Builds Bazel target $1 (a no-op after `bazel build //...`) and prints the
# path of its binary, $2 relative to bazel-bin.
built() {
  (cd "${root}" && bazel build "$1" >&2) || fail "bazel build $1 failed"
  local path
  path="$(cd "${root}" && bazel info bazel-bin 2>/dev/null)/$2"
  [[ -x "${path}" ]] || fail "no ${path}"
  echo "${path}"
}

# Starts nats-server on a port the kernel picks; sets `url`.
start_nats_server() {
  /usr/sbin/nats-server -a 127.0.0.1 -p -1 --ports_file_dir "${work}" \
    >"${work}/nats-server.log" 2>&1 &
  local pid=$!
  pids+=("${pid}")
  local ports_file="${work}/nats-server_${pid}.ports"
  wait_until "[[ -s '${ports_file}' ]] && grep -q 'nats://' '${ports_file}'" 10 ||
    fail "nats-server did not start"
  url="$(grep -o 'nats://[0-9.]*:[0-9]*' "${ports_file}" | head -n 1)"
  [[ -n "${url}" ]] || fail "no client URL in ${ports_file}"
}

# Starts a program in the background, its output in ${work}/<label>.log, and
# waits until that log holds pattern $2. Usage: start label pattern cmd args...
# Sets `last_pid`.
start() {
  local label="$1" pattern="$2"
  shift 2
  "$@" >"${work}/${label}.log" 2>&1 &
  last_pid=$!
  pids+=("${last_pid}")
  wait_until "grep -q '${pattern}' '${work}/${label}.log'" 20 ||
    fail "${label} did not start"
}

# Sends SIGTERM to pid $1 and fails unless it exits with status 0.
stop_cleanly() {
  kill -TERM "$1"
  local status=0
  wait "$1" || status=$?
  [[ "${status}" -eq 0 ]] || fail "process $1 exited with status ${status}"
}
