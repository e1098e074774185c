#!/usr/bin/env bash
# The .deb: CPack builds it from this build tree, its Depends name the libraries the plugin links,
# and it installs on a clean root (dpkg-deb into a scratch directory) with the binary where the
# README says, a working man page and the examples.
set -euo pipefail
BUILD_DIR=$(dirname "$NFTPM_BIN")
OUT=$(mktemp -d /tmp/nftpm-package.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
fails=0
check() { local what=$1; shift; if "$@"; then echo "  ok   $what"; else echo "  FAIL $what"; fails=$((fails + 1)); fi; }
(cd "$BUILD_DIR" && cpack -G DEB -B "$OUT" >/dev/null)
deb=$(ls "$OUT"/*.deb)
check "cpack built $(basename "$deb")" [ -f "$deb" ]
info=$(dpkg-deb -I "$deb")
check "Depends names libnftnl" grep -qE "Depends:.*libnftnl" <<<"$info"
check "Depends names libmnl" grep -qE "Depends:.*libmnl" <<<"$info"
check "Depends names libnetfilter-conntrack" grep -qE "Depends:.*libnetfilter-conntrack" <<<"$info"
mkdir "$OUT/root"
dpkg-deb -x "$deb" "$OUT/root"
check "the plugin is installed in /usr/lib/cni" [ -x "$OUT/root/usr/lib/cni/nft-port-mapper" ]
v=$(CNI_COMMAND=VERSION "$OUT/root/usr/lib/cni/nft-port-mapper" </dev/null)
check "the installed plugin answers VERSION" grep -q '"supportedVersions"' <<<"$v"
check "the man page is installed" [ -f "$OUT/root/usr/share/man/man8/nft-port-mapper.8" ] || \
  [ -f "$OUT/root/usr/share/man/man8/nft-port-mapper.8.gz" ]
check "the man page renders" eval "man -l '$OUT/root/usr/share/man/man8/nft-port-mapper.8' 2>/dev/null | grep migrate >/dev/null || groff -man -Tutf8 '$OUT/root/usr/share/man/man8/nft-port-mapper.8' 2>/dev/null | grep migrate >/dev/null || zcat -f '$OUT/root/usr/share/man/man8/nft-port-mapper.8'* | grep migrate >/dev/null"
check "the examples are installed" [ -f "$OUT/root/usr/share/doc/nft-port-mapper/examples/portmapper.conf" ]
[ "$fails" = 0 ] && echo "test_package: all checks passed" || { echo "test_package: $fails check(s) failed"; exit 1; }
