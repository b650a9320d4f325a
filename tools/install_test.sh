#!/usr/bin/env bash
# Test of tools/install.sh (staged with --destdir, binaries --from the build)
# and of the systemd unit it installs (systemd-analyze verify, when present).
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }

root=${TEST_TMPDIR:-$(mktemp -d)}/install
rm -rf "$root"
from="$root/from"
stage="$root/stage"
mkdir -p "$from"
# The build outputs, as links (install.sh must copy the files, not the links).
ln -s "$PWD/kv/kvd" "$from/kvd"
ln -s "$PWD/tools/kvctl" "$from/kvctl"
ln -s "$PWD/tools/kvbench" "$from/kvbench"

tools/install.sh --from "$from" --destdir "$stage" --prefix /opt/natskv >"$root/out1" ||
  fail "install.sh failed: $(cat "$root/out1")"
for p in kvd kvctl kvbench; do
  f="$stage/opt/natskv/bin/$p"
  [ -f "$f" ] && [ ! -L "$f" ] || fail "$f is not a regular file"
  [ "$(stat -c %a "$f")" = 755 ] || fail "$f mode $(stat -c %a "$f")"
  cmp -s "$f" "$from/$p" || fail "$f differs from the build output"
done
unit="$stage/etc/systemd/system/kvd.service"
env_file="$stage/etc/default/kvd"
# shellcheck disable=SC2016
grep -qx 'ExecStart=/opt/natskv/bin/kvd $KVD_OPTS' "$unit" || fail "ExecStart: $(grep ExecStart "$unit")"
for line in Type=notify EnvironmentFile=/etc/default/kvd KillSignal=SIGTERM \
  Restart=on-failure DynamicUser=yes; do
  grep -qx "$line" "$unit" || fail "the unit lacks $line"
done
[ "$(stat -c %a "$env_file")" = 600 ] || fail "$env_file mode $(stat -c %a "$env_file")"
# Whole output first: grep -q stops reading early, and kvd would get SIGPIPE.
help=$("$stage/opt/natskv/bin/kvd" --help) || fail "the installed kvd does not run"
grep -q -- --log_format <<<"$help" || fail "the installed kvd's --help lacks --log_format"

# Idempotent, and the environment file an operator edited is kept.
echo "KVD_OPTS=--link=edited" >>"$env_file"
tools/install.sh --from "$from" --destdir "$stage" --prefix /opt/natskv >"$root/out2" ||
  fail "second install.sh failed: $(cat "$root/out2")"
grep -qx 'KVD_OPTS=--link=edited' "$env_file" || fail "$env_file was overwritten"
grep -q "^kept $env_file" "$root/out2" || fail "no 'kept' message: $(cat "$root/out2")"

# Usage errors exit 2, failures 1.
set +e
tools/install.sh --bogus 2>/dev/null; [ $? -eq 2 ] || fail "--bogus: not exit 2"
tools/install.sh --prefix relative 2>/dev/null; [ $? -eq 2 ] || fail "relative prefix: not exit 2"
tools/install.sh --from "$root/nowhere" --destdir "$stage" 2>/dev/null
[ $? -eq 1 ] || fail "missing binaries: not exit 1"
tools/install.sh --help | grep -q -- --destdir || fail "--help"
set -e

# The unit as systemd reads it, pointed at the staged files.
if command -v systemd-analyze >/dev/null 2>&1; then
  sed -e "s#^ExecStart=/opt/natskv#ExecStart=$stage/opt/natskv#" \
    -e "s#^EnvironmentFile=/etc/default/kvd#EnvironmentFile=$env_file#" \
    "$unit" >"$root/kvd.service"
  systemd-analyze verify "$root/kvd.service" || fail "systemd-analyze verify"
else
  echo "systemd-analyze is missing: unit not verified"
fi
echo PASS
