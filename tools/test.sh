#!/usr/bin/env bash
# Runs every natskv test: installs what is missing (Debian 12), then
#   1. tools/format.sh --check     every C++ file formatted as .clang-format says
#   2. bazel test //...            unit, integration and multi-node tests
#   3. bazel test --config=asan    the unit tests under Address/UB sanitizers
#   4. bazel build --config=tsa    clang's thread-safety analysis, warnings as errors
#   5. the interoperability tests: JavaScript (npm clients) and Go (nats.go) against
#      our services (tests/js/run_*.sh, tests/go/run_*.sh)
# Exits non-zero when anything fails. Usage: tools/test.sh [extra bazel flags]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tools/deps.sh
source tools/deps.sh
natskv_install_deps

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
checks_passed=0
checks_failed=0
# Runs a check that is not a Bazel test target and counts it.
check() {
  echo "== $*"
  if "$@"; then
    checks_passed=$((checks_passed + 1))
  else
    checks_failed=$((checks_failed + 1))
    status=1
  fi
}

check tools/format.sh --check

echo "== bazel test //..."
bazel test "$@" //... 2>&1 | tee -a "$log" || status=1

echo "== bazel test --config=asan (unit tests)"
bazel test --config=asan "$@" //kv/... //micro/... 2>&1 | tee -a "$log" || status=1

check bazel build --config=tsa //...

interop_passed=0
interop_failed=0
for script in tests/js/run_*.sh tests/go/run_*.sh; do
  [ -e "$script" ] || continue
  echo "== $script"
  if bash "$script"; then
    interop_passed=$((interop_passed + 1))
  else
    interop_failed=$((interop_failed + 1))
    status=1
  fi
done

passed=$(grep -cE '^//.* PASSED in' "$log" || true)
failed=$(grep -cE '^//.* (FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD)' "$log" || true)
if grep -q 'FAILED: Build did NOT complete successfully' "$log"; then
  failed=$((failed + 1))
fi
echo
echo "tests: $((passed + interop_passed + checks_passed)) passed, $((failed + interop_failed + checks_failed)) failed"
exit "$status"
