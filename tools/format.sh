#!/usr/bin/env bash
# Formats the C++ sources with clang-format and the repo's .clang-format.
#   tools/format.sh           rewrite every unformatted file in place
#   tools/format.sh --check   list unformatted files and exit 1 if there are any
set -euo pipefail
cd "$(dirname "$0")/.."
check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  -h | --help)
    sed -n '2,4s/^# \{0,1\}//p' "$0"
    exit 0
    ;;
  *)
    echo "format.sh: unknown argument '$1' (see --help)" >&2
    exit 2
    ;;
esac
command -v clang-format >/dev/null || {
  echo "format.sh: clang-format is not installed (apt-get install clang-format)" >&2
  exit 2
}
unformatted=()
while IFS= read -r -d '' file; do
  if ! clang-format --style=file "$file" | cmp -s - "$file"; then
    unformatted+=("$file")
  fi
done < <(git ls-files -z -- '*.cc' '*.h')
if [ "${#unformatted[@]}" -eq 0 ]; then
  $check && echo "format: every C++ file is formatted"
  exit 0
fi
if $check; then
  printf 'format: not formatted (run tools/format.sh): %s\n' "${unformatted[@]}" >&2
  exit 1
fi
clang-format --style=file -i "${unformatted[@]}"
printf 'formatted %s\n' "${unformatted[@]}"
