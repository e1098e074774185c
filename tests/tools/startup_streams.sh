#!/bin/bash
# The plugin builds no standard stream before main() (include/nftpm/standard_streams.h): no
# translation unit linked into it holds <iostream>'s static std::ios_base::Init, whose symbol
# GCC names _ZStL8__ioinit. The control: nm must list the binary's own symbols (main, run_cli),
# so a missing tool or a stripped binary fails this test instead of passing it.
# usage: startup_streams.sh NFT_PORT_MAPPER_BINARY
set -euo pipefail
bin=$1
symbols=$(nm "$bin")
for want in ' T main$' 'run_cli'; do
  if ! grep -q -- "$want" <<<"$symbols"; then
    echo "FAIL: nm lists no '$want' in $bin: cannot tell what it holds" >&2
    exit 1
  fi
done
if grep -q '_ZStL8__ioinit' <<<"$symbols"; then
  echo "FAIL: $bin builds the standard streams at every start; these objects include <iostream>:" >&2
  grep -l --binary-files=binary '_ZStL8__ioinit' "$(dirname "$bin")"/CMakeFiles/*/src/*/*.o \
    "$(dirname "$bin")"/CMakeFiles/*/src/*.o 2>/dev/null >&2 || true
  exit 1
fi
echo "ok: no static std::ios_base::Init in $bin"
