#!/usr/bin/env bash
# A node filled by the previous release (0.1.0, which kept no records), upgraded in place: its
# mappings keep working, the new binary's DEL and CHECK handle them, `adopt` records them from the
# live ruleset, and after a flush `restore` brings all of them back.
#
# The previous release is built from this repository's history by tests/tools/build_prev_release.sh
# (NFTPM_PREV_BIN names a build to reuse; scripts/test makes one). A clone without that history
# fails this test loudly.
source "$(dirname "$0")/harness.sh"
if [ -z "${NFTPM_PREV_BIN:-}" ]; then
  log "building the previous release"
  NFTPM_PREV_BIN=$("$(dirname "$0")/../tools/build_prev_release.sh" "$(dirname "$NFTPM_BIN")/prev-release")
fi
[ -x "$NFTPM_PREV_BIN" ] || { echo "FAIL: no previous release binary at $NFTPM_PREV_BIN"; exit 1; }
NEW_BIN=$NFTPM_BIN
use_binary() {  # the plugin every caller runs from now on
  NFTPM_BIN=$1
  ln -sf "$1" "$CNI_BIN/nft-port-mapper"
  ln -sf "$1" "$CNI_BIN/mesos-cni-port-mapper"
}
topology
STATE="$T_DIR/state"
pm() { ip netns exec "$NODE" "$NEW_BIN" "$@"; }

log "the previous release fills the node"
use_binary "$NFTPM_PREV_BIN"
has_restore() { "$1" --help >"$T_DIR/help" && grep -qE '^  restore ' "$T_DIR/help"; }
lacks_restore() { "$1" --help >"$T_DIR/help" && ! grep -qE '^  restore ' "$T_DIR/help"; }
check "it is the previous release (no restore command)" lacks_restore "$NFTPM_PREV_BIN"
check "... and the new binary has one (control)" has_restore "$NEW_BIN"
mesos_config "$T_DIR/mesos.json" up-mesos UP-MESOS \
  '[{"host_port":8080,"container_port":80,"protocol":"tcp"},{"host_port":5353,"container_port":53,"protocol":"udp"}]' \
  "[\"$BRIDGE\"]" "{\"stateDir\": \"$STATE\"}"
mesos_config "$T_DIR/mesos3.json" up-mesos UP-MESOS '[{"host_port":8088,"container_port":80,"protocol":"tcp"}]' \
  "[\"$BRIDGE\"]" "{\"stateDir\": \"$STATE\"}"
conflist "$T_DIR/chained.conflist" up-chained 1.0.0 ", \"stateDir\": \"$STATE\""
jq --arg s "10.$((100 + T_NET % 100)).$((T_NET / 100 + 10)).0/24" --arg b "pmbu$$" \
  '.plugins[0].ipam.ranges[0][0].subnet = $s | .plugins[0].bridge = $b' "$T_DIR/chained.conflist" >"$T_DIR/c.tmp"
mv "$T_DIR/c.tmp" "$T_DIR/chained.conflist"
MAPS="[{\"hostPort\":9090,\"containerPort\":80,\"protocol\":\"tcp\"},{\"hostPort\":9191,\"containerPort\":81,\"protocol\":\"tcp\",\"hostIP\":\"$NODE_IP\"}]"
ctr_add u1; ctr_add u2; ctr_add u3
cni ADD u1 "$(ctr_path u1)" "$T_DIR/mesos.json"
check "previous release: Mesos ADD" [ "$T_RC" = 0 ]
cni ADD u3 "$(ctr_path u3)" "$T_DIR/mesos3.json"
check "previous release: a second Mesos ADD" [ "$T_RC" = 0 ]
runtime ADD u2 "$(ctr_path u2)" "$T_DIR/chained.conflist" "$MAPS"
check "previous release: chained ADD" [ "$T_RC" = 0 ]
check "previous release: no record written" [ ! -e "$STATE" ]
serve_tcp "$(ctr_ns u1)" 80 u1-80; serve_udp "$(ctr_ns u1)" 53 u1-53
serve_tcp "$(ctr_ns u2)" 80 u2-80; serve_tcp6 "$(ctr_ns u2)" 80 u2-80-v6; serve_tcp "$(ctr_ns u2)" 81 u2-81
traffic() {
  echo "$(tcp_get "$REMOTE" "$NODE_IP" 8080) $(udp_get "$REMOTE" "$NODE_IP" 5353) $(tcp_get "$REMOTE" "$NODE_IP" 9090)" \
    "$(tcp_get "$REMOTE" "$NODE_IP6" 9090) $(tcp_get "$REMOTE" "$NODE_IP" 9191)"
}
ALL_UP="u1-80 u1-53 u2-80 u2-80-v6 u2-81"
check "every mapping answers" [ "$(traffic)" = "$ALL_UP" ]

log "upgrade in place: the new binary replaces it"
use_binary "$NEW_BIN"
check "the mappings keep working" [ "$(traffic)" = "$ALL_UP" ]
runtime CHECK u2 "$(ctr_path u2)" "$T_DIR/chained.conflist" "$MAPS"
check "CHECK of a container the previous release added passes" [ "$T_RC" = 0 ]
check "list shows them" [ "$(pm list --json --state-dir "$STATE" | jq '[.[] | select(.state == "present")] | length')" = 6 ]
cni DEL u3 "" "$T_DIR/mesos3.json"
check "DEL of a container with no record exits 0" [ "$T_RC" = 0 ]
check "... and removes its mappings" [ "$(owned_count "net=up-mesos id=u3 if=eth0")" = 0 ]
out=$(pm adopt --state-dir "$STATE" --dry-run)
check "adopt --dry-run names both remaining attachments" [ "$(grep -c '^would record net=' <<<"$out")" = 2 ]
check "... and writes nothing" [ -z "$(find "$STATE" -type f ! -name .lock 2>/dev/null)" ]
out=$(pm adopt --state-dir "$STATE")
echo "$out" | sed 's/^/    /'
check "adopt records both attachments" [ "$(grep -c '^recorded net=' <<<"$out")" = 2 ]
rec=$(find "$STATE" -name 'u2:eth0')
check "the chained record holds both mappings, the host IP and both addresses" \
  [ "$(jq -c '[(.mappings | length), ([.mappings[].hostIP] | sort), (.addresses | keys)]' "$rec")" = \
    "[2,[\"\",\"$NODE_IP\"],[\"ipv4\",\"ipv6\"]]" ]
check "the Mesos record holds tcp and udp, and the excluded bridge" \
  [ "$(jq -c '[([.mappings[].protocol] | sort), .excludeDevices]' "$(find "$STATE" -name 'u1:eth0')")" = "[[\"tcp\",\"udp\"],[\"$BRIDGE\"]]" ]
out=$(pm adopt --state-dir "$STATE")
check "adopt again records nothing more" grep -q "^recorded 0 attachments" <<<"$out"

log "flush, then restore"
nft_node flush ruleset
check "after the flush nothing answers" [ "$(traffic)" = "    " ]
out=$(pm restore --state-dir "$STATE")
echo "$out" | sed 's/^/    /'
check "restore brings back every mapping the previous release made" [ "$(traffic)" = "$ALL_UP" ]
runtime CHECK u2 "$(ctr_path u2)" "$T_DIR/chained.conflist" "$MAPS"
check "CHECK against the adopted record passes" [ "$T_RC" = 0 ]

cni DEL u1 "" "$T_DIR/mesos.json"
check "DEL of the adopted Mesos container exits 0" [ "$T_RC" = 0 ]
runtime DEL u2 "$(ctr_path u2)" "$T_DIR/chained.conflist" "$MAPS"
check "DEL of the adopted chained container exits 0" [ "$T_RC" = 0 ]
check_eq "nothing owned is left" "$(owned_total)" 0
check "no record is left" [ -z "$(find "$STATE" -type f ! -name .lock)" ]
finish
