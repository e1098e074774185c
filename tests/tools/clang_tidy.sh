#!/usr/bin/env bash
# The lint.clang_tidy test: every source of the plugin under .clang-tidy's checks, with the build's
# compile commands. Any finding, or clang-tidy failing on a file, fails it (printed by file).
# usage: clang_tidy.sh BUILD_DIR
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
tidy=$(command -v clang-tidy-14 || command -v clang-tidy) || { echo "FAIL: clang-tidy is not installed"; exit 1; }
[ -f "$build/compile_commands.json" ] || { echo "FAIL: no $build/compile_commands.json"; exit 1; }
cd "$src"
files=(src/*.cc src/*/*.cc)
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
one() {  # one FILE: its findings in $logs/<file>.log, its exit status in $logs/<file>.rc
  local log="$logs/${1//\//_}"
  set +e
  "$tidy" -p "$build" --quiet "$1" >"$log.log" 2>&1
  echo $? >"$log.rc"
}
running=0
for f in "${files[@]}"; do
  one "$f" &
  running=$((running + 1))
  if [ "$running" -ge 2 ]; then wait -n; running=$((running - 1)); fi
done
wait
status=0
for f in "${files[@]}"; do
  log="$logs/${f//\//_}"
  if [ "$(cat "$log.rc")" != 0 ] || grep -qE '(warning|error): ' "$log.log"; then
    echo "== $f (clang-tidy exit status $(cat "$log.rc"))"
    grep -E '(warning|error): ' "$log.log" || tail -5 "$log.log"
    status=1
  fi
done
[ "$status" = 0 ] && echo "clang-tidy: ${#files[@]} files, no findings"
exit "$status"
