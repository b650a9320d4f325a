#!/usr/bin/env bash
# Runs a natskv node on this machine (Debian 12):
#   1. installs the packages that are missing (tools/deps.sh),
#   2. builds kvd, kvctl and kvbench (optimised),
#   3. starts a local nats-server on 127.0.0.1:4222 unless a NATS server answers
#      there (checked: its first line is INFO {...}), or --server or NATS_URL
#      names another,
#   4. runs kvd in the foreground. Ctrl-C stops kvd (it drains first) and then
#      the nats-server this script started, if it started one; a server it found
#      running, or named by --server/NATS_URL, keeps running.
# Arguments are passed to kvd, e.g.: tools/run.sh --link=default,sessions
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tools/deps.sh
source tools/deps.sh
natskv_install_deps

echo "natskv: building (first build takes a few minutes)..." >&2
bazel build -c opt //kv:kvd //tools:kvctl //tools:kvbench
# Stable names for the binaries: bin/kvd, bin/kvctl, bin/kvbench.
out=$(bazel info -c opt bazel-bin 2>/dev/null)
mkdir -p bin
ln -sfn "$out/kv/kvd" bin/kvd
ln -sfn "$out/tools/kvctl" bin/kvctl
ln -sfn "$out/tools/kvbench" bin/kvbench
bin=$(pwd)/bin

server=""
prev=""
for arg in "$@"; do
  case "$arg" in
    --server=*) server=${arg#--server=} ;;
  esac
  [ "$prev" = "--server" ] && server=$arg
  prev=$arg
done

nats_pid=""
cleanup() {
  if [ -n "$nats_pid" ]; then
    kill "$nats_pid" 2>/dev/null || true
    wait "$nats_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# Whether what listens on host $1, port $2 speaks NATS: a NATS server greets
# every client with a line "INFO {...}".
speaks_nats() {
  local line=""
  # shellcheck disable=SC2016
  line=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" && IFS= read -r line <&3 && printf %s "$line"' \
    _ "$1" "$2" 2>/dev/null) || true
  [[ $line == "INFO {"* ]]
}

if [ -z "$server" ] && [ -n "${NATS_URL:-}" ]; then
  # kvd uses NATS_URL when no --server is given (as the nats CLI).
  server=$NATS_URL
  echo "natskv: using NATS_URL=$server" >&2
elif [ -z "$server" ]; then
  server=nats://127.0.0.1:4222
  if port_open 127.0.0.1 4222; then
    speaks_nats 127.0.0.1 4222 || {
      echo "natskv: something listens on 127.0.0.1:4222 but it is not a NATS server" \
        "(no 'INFO {...}' greeting); stop it, or pass --server=nats://host:port" >&2
      exit 1
    }
    echo "natskv: using the nats-server already listening on 127.0.0.1:4222" >&2
  else
    log=$(mktemp -t natskv-nats-server.XXXXXX.log)
    # In its own session, so that Ctrl-C reaches kvd (which drains) and not the
    # server; it is stopped after kvd has exited.
    setsid nats-server -a 127.0.0.1 -p 4222 >"$log" 2>&1 &
    nats_pid=$!
    for _ in $(seq 100); do
      port_open 127.0.0.1 4222 && break
      kill -0 "$nats_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
      sleep 0.1
    done
    port_open 127.0.0.1 4222 || { echo "natskv: nats-server did not start" >&2; exit 1; }
    echo "natskv: started nats-server on 127.0.0.1:4222 (log: $log)" >&2
  fi
  set -- --server="$server" "$@"
fi

cat >&2 <<MSG

natskv is starting on $server. In another terminal:
  $bin/kvctl --server $server set greeting hello
  $bin/kvctl --server $server get greeting
  $bin/kvctl --server $server ls          # service discovery
  $bin/kvctl --help                        # every operation, with its 'nats req' line
or from any NATS client, e.g. the nats CLI:
  nats --server $server req kv.default.set '{"key":"greeting","value":"hello"}'
  nats --server $server req kv.default.get '{"key":"greeting"}'
A second node for the same link replicates: run '$bin/kvd --server $server'.
Stop with Ctrl-C (stops kvd$([ -n "$nats_pid" ] && echo ", then the nats-server started here")).

MSG

"$bin/kvd" "$@" &
kvd_pid=$!
trap 'kill -TERM "$kvd_pid" 2>/dev/null || true' INT TERM
status=0
wait "$kvd_pid" || status=$?
# A signal interrupts the first wait; wait again for kvd's drain to finish.
if kill -0 "$kvd_pid" 2>/dev/null; then wait "$kvd_pid" || status=$?; fi
exit "$status"
