#!/usr/bin/env bash
# The comparison of issue 14 in one command: starts its own nats-server with
# JetStream (free port, store in a temporary directory), a standalone kvd and
# three replicating kvds, measures with kvbench echo, kvd and JetStream KV at 1
# and 128 in flight, then the 1M-key figures (memory per key, join time, full
# listing), and prints the tables (Markdown). Every process it started is
# stopped on exit, whatever happens.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: tools/bench.sh [--quick] [--value_size N] [--json FILE] [--from DIR] [--help]

Starts a nats-server with JetStream on a free loopback port (its store in a
temporary directory, removed afterwards), a standalone kvd (link solo,
--replication=false) and three replicating kvds (link repl), and measures in
one run, each at 1 and 128 requests in flight:
  echo, kvd get and set (standalone), JetStream KV get (direct get) and put
  (kvbench --baseline echo,jetstream), and kvd set on the 3 replicating nodes
  (kvbench --baseline echo);
then loads one replicating kvd (link big) with 1M keys x 100 B and reports its
RSS growth per key against the raw bytes, the time a new node takes to join
it (start to ready), and the time kvctl keys takes to list every key.

  --quick         short runs (200 ms warm-up, 1 s measured) and 100k keys: a smoke run
  --value_size N  bytes per value in the request table (default 12, as issue 14)
  --json FILE     also write every figure to FILE (JSON)
  --from DIR      use kvd, kvctl and kvbench from DIR (or DIR/kv, DIR/tools: a
                  bazel-bin tree) instead of building them
  --help          this text

Needs nats-server, jq and (without --from) bazel. A full run takes about
2 to 3 minutes on 2 cores. Exit status: 0 done, 1 failure, 2 usage error.
USAGE
}

die() { echo "bench.sh: $*" >&2; exit 1; }
usage_error() { echo "bench.sh: $*" >&2; echo "(tools/bench.sh --help)" >&2; exit 2; }

quick=false
value_size=12
json_out=""
from=""
while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h) usage; exit 0 ;;
    --quick) quick=true; shift ;;
    --value_size|--json|--from)
      [ $# -ge 2 ] || usage_error "$1 needs a value"
      case "$1" in
        --value_size) value_size=$2 ;; --json) json_out=$2 ;; --from) from=$2 ;;
      esac
      shift 2 ;;
    --value_size=*) value_size=${1#*=}; shift ;;
    --json=*) json_out=${1#*=}; shift ;;
    --from=*) from=${1#*=}; shift ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
done
if ! [[ "$value_size" =~ ^[0-9]+$ ]] || [ "$value_size" -gt 65536 ]; then
  usage_error "--value_size takes a number of bytes, 0 to 65536; got '$value_size'"
fi

if $quick; then
  warmup=200ms duration=1s big_keys=100000
else
  warmup=1s duration=5s big_keys=1000000
fi
big_value=100

cd "$(dirname "$0")/.."
command -v nats-server >/dev/null 2>&1 || die "nats-server is missing (apt-get install nats-server)"
command -v jq >/dev/null 2>&1 || die "jq is missing (apt-get install jq)"
if [ -z "$from" ]; then
  command -v bazel >/dev/null 2>&1 || die "bazel is missing (tools/deps.sh), or pass --from DIR"
  echo "bench.sh: building kvd, kvctl, kvbench (optimised)..." >&2
  bazel build -c opt //kv:kvd //tools:kvctl //tools:kvbench >&2 || die "the build failed"
  out=$(bazel info -c opt bazel-bin 2>/dev/null)
  kvd=$out/kv/kvd kvctl=$out/tools/kvctl kvbench=$out/tools/kvbench
elif [ -x "$from/kv/kvd" ]; then  # a bazel-bin tree
  kvd=$from/kv/kvd kvctl=$from/tools/kvctl kvbench=$from/tools/kvbench
else
  kvd=$from/kvd kvctl=$from/kvctl kvbench=$from/kvbench
fi
for b in "$kvd" "$kvctl" "$kvbench"; do [ -x "$b" ] || die "no program at $b"; done

tmp=$(mktemp -d -t natskv-bench.XXXXXX)
pids=()
cleanup() {
  local pid i
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Waits until file $1 contains $2 (fixed string), for at most $3 seconds.
wait_for_line() {
  local deadline=$((SECONDS + $3))
  until grep -qF -- "$2" "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { tail -n 20 "$1" >&2; die "no '$2' in $1 after $3 s"; }
    sleep 0.02
  done
}

# Starts a process in the background, its output in $tmp/$1.log; sets $started.
start() {
  local name=$1; shift
  "$@" >"$tmp/$name.log" 2>&1 &
  started=$!
  pids+=("$started")
}

# nats-server on a free port: the kernel picks it, the ports file tells it.
start nats nats-server -a 127.0.0.1 -p -1 -js -sd "$tmp/jetstream" --ports_file_dir "$tmp"
nats_pid=$started
deadline=$((SECONDS + 10))
until [ -s "$tmp/nats-server_$nats_pid.ports" ]; do
  kill -0 "$nats_pid" 2>/dev/null || { cat "$tmp/nats.log" >&2; die "nats-server exited"; }
  [ $SECONDS -lt $deadline ] || die "nats-server did not start within 10 s"
  sleep 0.02
done
url=$(jq -r '.nats[0]' "$tmp/nats-server_$nats_pid.ports")
echo "bench.sh: nats-server with JetStream on $url" >&2

start kvd-solo "$kvd" --server="$url" --link=solo --replication=false --name=kvd-solo
wait_for_line "$tmp/kvd-solo.log" "service kv " 30
for i in 1 2 3; do
  start "kvd-repl$i" "$kvd" --server="$url" --link=repl --name="kvd-repl$i"
  wait_for_line "$tmp/kvd-repl$i.log" ": ready" 30
done
echo "bench.sh: standalone kvd (link solo) and 3 replicating kvds (link repl) ready" >&2

# kvbench NAME ARGS...: one measured run, JSON in $tmp/NAME.json.
kvbench_run() {
  local name=$1; shift
  echo "bench.sh: kvbench $*" >&2
  "$kvbench" --server="$url" --inflight=1,128 --warmup="$warmup" --duration="$duration" \
    --value_size="$value_size" --json "$@" >"$tmp/$name.json" 2>"$tmp/$name.err" ||
    { tail -n 20 "$tmp/$name.err" >&2; die "kvbench $* failed"; }
}
kvbench_run get --link=solo --op=get --baseline=echo,jetstream --bucket=bench_get
kvbench_run set --link=solo --op=set --baseline=echo,jetstream --bucket=bench_set
kvbench_run repl --link=repl --op=set --baseline=echo

# The 1M-key figures: one replicating node on link big, loaded, then a joiner.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
start kvd-big1 "$kvd" --server="$url" --link=big --name=kvd-big1
big1=$started
wait_for_line "$tmp/kvd-big1.log" ": ready" 30
rss_before=$(rss_kb "$big1")
echo "bench.sh: loading $big_keys keys x $big_value B into one kvd (link big)" >&2
"$kvbench" --server="$url" --link=big --op=get --keys="$big_keys" --value_size="$big_value" \
  --inflight=1 --warmup=0s --duration=100ms --json >"$tmp/load.json" 2>"$tmp/load.err" ||
  { tail -n 20 "$tmp/load.err" >&2; die "loading $big_keys keys failed"; }
grep -q "sets failed" "$tmp/load.err" && die "loading: $(grep 'sets failed' "$tmp/load.err")"
rss_after=$(rss_kb "$big1")

# Join: from the joiner's first log line (connected) to its "ready" line.
start kvd-big2 "$kvd" --server="$url" --link=big --name=kvd-big2
big2=$started
wait_for_line "$tmp/kvd-big2.log" ": ready" 300
log_ms() { # the time of the first line of $1 containing $2, in ms since the epoch
  local t
  t=$(grep -m1 -F -- "$2" "$1" | cut -d' ' -f1)
  echo $(($(date -d "$t" +%s%N) / 1000000))
}
join_ms=$(($(log_ms "$tmp/kvd-big2.log" ": ready") - $(log_ms "$tmp/kvd-big2.log" "nats: connected")))
"$kvctl" --server="$url" --link=big check --wait 60s >"$tmp/check.out" 2>&1 ||
  { cat "$tmp/check.out" >&2; die "the joined node does not agree with the loaded one"; }
rss_joined=$(rss_kb "$big2")

# Full listing through the kv.big.keys pages.
t0=$(date +%s%N)
listed=$("$kvctl" --server="$url" --link=big keys | wc -l)
list_ms=$((($(date +%s%N) - t0) / 1000000))
[ "$listed" -eq "$big_keys" ] || die "kvctl keys listed $listed keys, not $big_keys"

# --- the report ---
cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
row() { # FILE TARGET INFLIGHT -> "req/s p50 req/s-vs-echo p50-vs-echo"
  jq -r --arg t "$2" --argjson n "$3" '.results[] | select(.target == $t and .inflight == $n)
    | "\(.requests_per_second) \(.p50_us) \(.requests_per_second_vs_echo // 1) \(.p50_vs_echo // 1) \(.errors)"' "$tmp/$1.json"
}
cells() { # FILE TARGET INFLIGHT -> Markdown cells: req/s, vs echo, p50, vs echo
  row "$@" | awk '{printf "%.0f | %.2fx | %.0f | %.2fx", $1, $3, $2, $4; if ($5 > 0) printf " (%d errors)", $5}'
}
line() { # LABEL FILE TARGET
  echo "| $1 | $(cells "$2" "$3" 1) | $(cells "$2" "$3" 128) |"
}
vs_solo() { # INFLIGHT -> replicated set req/s as a ratio to standalone set
  awk -v a="$(row repl kvd "$1" | cut -d' ' -f1)" -v b="$(row set kvd "$1" | cut -d' ' -f1)" \
    'BEGIN {printf "%.2fx", a / b}'
}
raw=$((big_keys * (8 + big_value)))
growth=$(((rss_after - rss_before) * 1024))
mode=full; $quick && mode=quick

echo
echo "natskv tools/bench.sh ($mode run), $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $cpu;"
echo "$(nats-server --version); $value_size-byte values, 10000 keys, warm-up $warmup, measured $duration per row."
echo
echo "| | 1 in flight: req/s | vs echo | p50 µs | vs echo | 128 in flight: req/s | vs echo | p50 µs | vs echo |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
line "echo (get run)" get echo
line "kvd get, standalone" get kvd
line "JetStream KV get (direct get, memory, R1)" get jetstream
line "echo (set run)" set echo
line "kvd set, standalone" set kvd
line "JetStream KV put (memory, R1)" set jetstream
line "echo (replicated run)" repl echo
line "kvd set, 3 replicating nodes" repl kvd
echo
echo "kvd set on 3 replicating nodes vs standalone set: $(vs_solo 1) at 1 in flight, $(vs_solo 128) at 128."
echo "kvd vs JetStream KV: get $(jq -r '[.results[] | select(.target == "kvd") | "\(.requests_per_second_vs_jetstream * 100 | round / 100)x"] | join(" / ")' "$tmp/get.json"), set vs put $(jq -r '[.results[] | select(.target == "kvd") | "\(.requests_per_second_vs_jetstream * 100 | round / 100)x"] | join(" / ")' "$tmp/set.json") req/s (1 / 128 in flight)."
echo
echo "| $big_keys keys x $big_value B (8-byte keys) | |"
echo "| --- | --- |"
awk -v g="$growth" -v r="$raw" -v n="$big_keys" 'BEGIN {
  printf "| kvd RSS growth for the data | %.0f MB, %.0f B a key: %.2fx the %.0f MB of raw keys and values |\n",
    g / 1e6, g / n, g / r, r / 1e6 }'
awk -v j="$join_ms" -v k="$rss_joined" 'BEGIN {
  printf "| a new node joins it (connected to ready) | %.2f s (then %.0f MB resident) |\n", j / 1000, k * 1024 / 1e6 }'
awk -v l="$list_ms" -v n="$listed" 'BEGIN {
  printf "| listing every key (kvctl keys, %d keys) | %.2f s |\n", n, l / 1000 }'

if [ -n "$json_out" ]; then
  jq -n --arg date "$(date -u +%FT%TZ)" --arg mode "$mode" --arg cpu "$cpu" \
    --argjson nproc "$(nproc)" --argjson value_size "$value_size" \
    --slurpfile get "$tmp/get.json" --slurpfile set "$tmp/set.json" --slurpfile repl "$tmp/repl.json" \
    --argjson keys "$big_keys" --argjson rss_growth "$growth" --argjson raw "$raw" \
    --argjson join_ms "$join_ms" --argjson list_ms "$list_ms" \
    '{date: $date, mode: $mode, cpu: $cpu, nproc: $nproc, value_size: $value_size,
      get: $get[0].results, set: $set[0].results, replicated: $repl[0].results,
      big: {keys: $keys, rss_growth_bytes: $rss_growth, raw_bytes: $raw,
            bytes_per_key: ($rss_growth / $keys), join_ms: $join_ms, list_ms: $list_ms}}' \
    >"$json_out"
  echo "bench.sh: figures written to $json_out" >&2
fi
