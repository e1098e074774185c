#!/usr/bin/env bash
# The .deb: CPack builds it from this build tree, lintian finds no error and no warning in it, its
# Depends name the libraries the plugin links, and it installs on a clean root (dpkg-deb into a
# scratch directory) with the binary where the README says, a gzipped man page that renders, the
# copyright file and Debian changelog, the examples, and the two systemd units (not enabled).
source "$(dirname "$0")/harness.sh"   # check/finish/die and the cleanup of $T_DIR (no namespaces here)
BUILD_DIR=$(dirname "$NFTPM_BIN")
OUT=$T_DIR/package
mkdir "$OUT"
# Tools the checks need are never optional: a missing one fails the test (scripts/install-deps
# installs them all).
for tool in lintian systemd-analyze groff dpkg-deb; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/install-deps installs it)"
done
(cd "$BUILD_DIR" && cpack -G DEB -B "$OUT" >/dev/null) || die "cpack failed"
deb=$(ls "$OUT"/*.deb)
check "cpack built $(basename "$deb")" [ -f "$deb" ]

# lintian: no E: and no W: line (overrides, with their reasons, are in packaging/lintian-overrides).
lintian_clean() {
  local rc=0 out
  out=$(lintian --fail-on error,warning "$deb" 2>"$OUT/lintian.err") || rc=$?
  if [ "$rc" != 0 ] || grep -qE '^[EW]: ' <<<"$out"; then
    echo "lintian exited $rc:"; sed -n '/^[EW]: /p' <<<"$out"; sed '/root privileges/d' "$OUT/lintian.err"
    return 1
  fi
}
check "lintian: no errors, no warnings" lintian_clean

info=$(dpkg-deb -I "$deb")
version=$(dpkg-deb -f "$deb" Version)
# libnftnl and the C++ runtime are linked in (NFTPM_STATIC_RUNTIME: start-up is ADD's latency);
# the shared libraries the binary itself needs (NEEDED) are Depends, each of them.
needed=$(readelf -d "$NFTPM_BIN" | awk '/\(NEEDED\)/ {gsub(/[][]/, "", $5); print $5}') || die "readelf failed"
for lib in $(grep -E '^lib(nftnl|mnl|netfilter_conntrack|stdc\+\+)' <<<"$needed"); do
  pkg=$(dpkg -S "*/$lib" | head -1 | cut -d: -f1) || die "dpkg -S cannot name the package of $lib"
  check "Depends names $pkg, which provides $lib that the binary loads" grep -qE "Depends:.*\b$pkg\b" <<<"$info"
done
check "control: the loop above saw libmnl" grep -q '^libmnl' <<<"$needed"
mkdir "$OUT/control"
dpkg-deb -e "$deb" "$OUT/control"
ctl_files=$(ls "$OUT/control")
check_match "the control archive lists its files (control for the check below)" "^control$" "$ctl_files"
check_eq "no maintainer scripts (nothing enables the units)" "$(grep -vxE 'control|md5sums' <<<"$ctl_files" || true)" ""

mkdir "$OUT/root"
dpkg-deb -x "$deb" "$OUT/root"
plugin=$OUT/root/usr/lib/cni/nft-port-mapper
check "the plugin is installed in /usr/lib/cni" [ -x "$plugin" ]
v=$(CNI_COMMAND=VERSION "$plugin" </dev/null)
check "the installed plugin answers VERSION" grep -q '"supportedVersions"' <<<"$v"

# gzip -9n: no file name, no time stamp (bytes 3-7 zero), maximum compression (byte 8 is 2).
gzip_9n() { [ "$(od -An -tx1 -N9 "$1" | tr -d ' \n')" = 1f8b08000000000002 ] && gzip -t "$1"; }
doc=$OUT/root/usr/share/doc/nft-port-mapper
man=$OUT/root/usr/share/man/man8/nft-port-mapper.8
check "the man page is installed gzipped" [ -f "$man.gz" ]
check "the man page is not installed uncompressed" [ ! -e "$man" ]
check "the man page is compressed with gzip -9n" gzip_9n "$man.gz"
renders() {
  local text
  text=$(zcat "$1" | groff -man -Tutf8 -ww -P-cbou 2>"$OUT/groff.err")  # plain text: no overstrike
  if [ -s "$OUT/groff.err" ]; then cat "$OUT/groff.err"; return 1; fi
  grep -q 'SYNOPSIS' <<<"$text" && grep -q 'migrate' <<<"$text"
}
check "the man page renders (zcat | groff -man), without warnings" renders "$man.gz"
check "the copyright file is installed" [ -f "$doc/copyright" ]
check "the copyright file is machine-readable (copyright-format 1.0)" \
  grep -qx 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' "$doc/copyright"
check "the copyright file names Apache-2.0" grep -qx 'License: Apache-2.0' "$doc/copyright"
check "LICENSE is not installed besides it" [ ! -e "$doc/LICENSE" ]
check "changelog.Debian.gz is installed" [ -f "$doc/changelog.Debian.gz" ]
check "changelog.Debian.gz is compressed with gzip -9n" gzip_9n "$doc/changelog.Debian.gz"
check "changelog.Debian.gz's first entry is $version" \
  grep -q "^nft-port-mapper ($version) " <(zcat "$doc/changelog.Debian.gz" | head -n 1)
check "the examples are installed" [ -f "$doc/examples/portmapper.conf" ]

# The units: in /usr/lib/systemd/system, running the installed plugin; systemd-analyze verify finds
# nothing to say about them (run on copies naming the extracted plugin, which must exist and be
# executable, with the extracted man page for Documentation=).
units=$OUT/root/usr/lib/systemd/system
for sub in restore watch; do
  unit=$units/nft-port-mapper-$sub.service
  check "nft-port-mapper-$sub.service is in /usr/lib/systemd/system" [ -f "$unit" ]
  check "nft-port-mapper-$sub.service runs /usr/lib/cni/nft-port-mapper $sub" \
    grep -qx "ExecStart=/usr/lib/cni/nft-port-mapper $sub" "$unit"
done
check "nft-port-mapper-restore.service reloads with the same restore" \
  grep -qx "ExecReload=/usr/lib/cni/nft-port-mapper restore" "$units/nft-port-mapper-restore.service"
mkdir "$OUT/verify"
for unit in "$units"/*.service; do
  sed "s#=/usr/lib/cni/nft-port-mapper #=$plugin #" "$unit" >"$OUT/verify/$(basename "$unit")"
done
verify_units() {
  local said
  said=$(MANPATH=$OUT/root/usr/share/man systemd-analyze verify "$OUT"/verify/*.service 2>&1) || { echo "$said"; return 1; }
  [ -z "$said" ] || { echo "$said"; return 1; }
}
check "systemd-analyze verify: both units clean" verify_units

finish
