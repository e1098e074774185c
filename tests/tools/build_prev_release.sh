#!/usr/bin/env bash
# Builds the plugin of the previous release (0.1.0, which kept no attachment records) from this
# repository's history into DIR, once; prints the binary's path. For test_upgrade.sh.
# usage: build_prev_release.sh DIR
set -euo pipefail
PREV_COMMIT=f51c29e  # 0.1.0
dir=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
bin="$dir/build/nft-port-mapper"
if [ ! -x "$bin" ]; then
  git -C "$src" cat-file -e "$PREV_COMMIT^{commit}" ||
    { echo "build_prev_release: commit $PREV_COMMIT is not in $src's history (a shallow clone?)" >&2; exit 1; }
  rm -rf "$dir" && mkdir -p "$dir/src"
  git -C "$src" archive "$PREV_COMMIT" | tar -x -C "$dir/src"
  cmake -S "$dir/src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DNFTPM_BUILD_TESTS=OFF >/dev/null
  cmake --build "$dir/build" -j2 --target nft-port-mapper >/dev/null
fi
echo "$bin"
