#!/usr/bin/env bash
# Installs natskv: kvd, kvctl and kvbench (optimised builds, real copies) into
# PREFIX/bin, the systemd unit kvd.service, and an example environment file
# /etc/default/kvd (kept when present). Safe to run again.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: tools/install.sh [--prefix DIR] [--destdir DIR] [--from DIR] [--help]

Builds kvd, kvctl and kvbench (bazel build -c opt) and installs:
  PREFIX/bin/{kvd,kvctl,kvbench}           copies, mode 0755 (replaced)
  DESTDIR/etc/systemd/system/kvd.service   ExecStart=PREFIX/bin/kvd (replaced)
  DESTDIR/etc/default/kvd                  example settings, mode 0600 (kept if present)
then, when installing into the running system as root, runs
'systemctl daemon-reload' (it never enables or starts the service).

  --prefix DIR   where the programs go (default /usr/local)
  --destdir DIR  stage everything under DIR (packaging, tests): DIR/PREFIX/bin,
                 DIR/etc/...; no systemctl
  --from DIR     install the binaries found in DIR instead of building them
  --help         this text

Exit status: 0 installed, 1 failure, 2 usage error.
Then: systemctl enable --now kvd; journalctl -u kvd -f
USAGE
}

die() { echo "install.sh: $*" >&2; exit 1; }
usage_error() { echo "install.sh: $*" >&2; echo "(tools/install.sh --help)" >&2; exit 2; }

prefix=/usr/local
destdir=""
from=""
while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h) usage; exit 0 ;;
    --prefix|--destdir|--from)
      [ $# -ge 2 ] || usage_error "$1 needs a value"
      opt=${1#--}; printf -v "$opt" '%s' "$2"; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --destdir=*) destdir=${1#*=}; shift ;;
    --from=*) from=${1#*=}; shift ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
done
case "$prefix" in
  /*) ;;
  *) usage_error "--prefix must be an absolute path, not '$prefix'" ;;
esac
prefix=${prefix%/}
[ -n "$prefix" ] || prefix=/

cd "$(dirname "$0")/.."
programs=(kvd kvctl kvbench)
if [ -z "$from" ]; then
  command -v bazel >/dev/null 2>&1 ||
    die "bazel is missing: run tools/deps.sh's packages first (source tools/deps.sh; natskv_install_deps)"
  echo "install.sh: building kvd, kvctl, kvbench (optimised)..." >&2
  bazel build -c opt //kv:kvd //tools:kvctl //tools:kvbench >&2 || die "the build failed"
  out=$(bazel info -c opt bazel-bin 2>/dev/null) || die "cannot find Bazel's output directory"
  sources=("$out/kv/kvd" "$out/tools/kvctl" "$out/tools/kvbench")
else
  sources=("$from/kvd" "$from/kvctl" "$from/kvbench")
fi
for s in "${sources[@]}"; do
  [ -f "$s" ] && [ -x "$s" ] || die "no executable $s"
done

bindir="$destdir$prefix/bin"
unitdir="$destdir/etc/systemd/system"
envdir="$destdir/etc/default"
mkdir -p "$bindir" "$unitdir" "$envdir" || die "cannot create $bindir, $unitdir or $envdir"

for i in "${!programs[@]}"; do
  # A real copy (the build output is read-only and lives in Bazel's cache),
  # replaced atomically so that a running kvd keeps its old file.
  target="$bindir/${programs[$i]}"
  install -m 0755 "${sources[$i]}" "$target.new" && mv -f "$target.new" "$target" ||
    die "cannot install $target"
  echo "installed $target"
done

unit="$unitdir/kvd.service"
sed "s#/usr/local/bin/kvd#$prefix/bin/kvd#" tools/systemd/kvd.service >"$unit.new" &&
  chmod 0644 "$unit.new" && mv -f "$unit.new" "$unit" || die "cannot install $unit"
echo "installed $unit"

env_file="$envdir/kvd"
if [ -e "$env_file" ]; then
  echo "kept $env_file (already present; the example is tools/systemd/kvd.env)"
else
  install -m 0600 tools/systemd/kvd.env "$env_file" || die "cannot install $env_file"
  echo "installed $env_file (edit it: NATS_URL, KVD_OPTS)"
fi

if [ -z "$destdir" ] && [ "$(id -u)" -eq 0 ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || die "systemctl daemon-reload failed"
  echo "systemd reloaded; start with: systemctl enable --now kvd"
fi
