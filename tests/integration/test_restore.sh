#!/usr/bin/env bash
# Mappings that outlive someone else's flush: every attachment has a record (stateDir), CHECK
# names what a flush took, `list` marks it, `restore` puts it back (traffic proves it), again and
# again with nothing to do, and the watcher does it with no command. DEL removes what the record
# says whatever mappings it carries; restore never resurrects what a DEL removes.
source "$(dirname "$0")/harness.sh"
topology
STATE="$T_DIR/state"
pm() { ip netns exec "$NODE" "$NFTPM_BIN" "$@"; }
# Mesos delegate mode, IPv4 (the agent's shape) with stateDir set.
mesos_config "$T_DIR/mesos.json" rs-mesos RS-MESOS \
  '[{"host_port":8080,"container_port":80,"protocol":"tcp"},{"host_port":5353,"container_port":53,"protocol":"udp"}]' \
  "[\"$BRIDGE\"]" "{\"stateDir\": \"$STATE\"}"
# Chained mode, dual stack; its second network uses the same state directory.
conflist "$T_DIR/chained.conflist" rs-chained 1.0.0 ", \"stateDir\": \"$STATE\""
# Its own bridge and subnet beside the Mesos network's.
CHAINED_SUBNET="10.$((100 + T_NET % 100)).$((T_NET / 100 + 10)).0/24"
jq --arg s "$CHAINED_SUBNET" --arg b "pmbc$$" '.plugins[0].ipam.ranges[0][0].subnet = $s | .plugins[0].bridge = $b' \
  "$T_DIR/chained.conflist" >"$T_DIR/c.tmp"
mv "$T_DIR/c.tmp" "$T_DIR/chained.conflist"
CHAINED_MAPS="[{\"hostPort\":9090,\"containerPort\":80,\"protocol\":\"tcp\"},{\"hostPort\":9191,\"containerPort\":81,\"protocol\":\"tcp\",\"hostIP\":\"$NODE_IP\"}]"
MESOS_ID=5c1e2d3f-0000-4000-8000-000000000001
ctr_add m1
ctr_add c1
cni ADD "$MESOS_ID" "$(ctr_path m1)" "$T_DIR/mesos.json"
check "Mesos ADD exits 0" [ "$T_RC" = 0 ]
runtime ADD c1 "$(ctr_path c1)" "$T_DIR/chained.conflist" "$CHAINED_MAPS"
check "chained ADD exits 0" [ "$T_RC" = 0 ] || { echo "$T_OUT"; cat "$T_DIR/stderr"; }
serve_tcp "$(ctr_ns m1)" 80 m1-80
serve_udp "$(ctr_ns m1)" 53 m1-53
serve_tcp "$(ctr_ns c1)" 80 c1-80
serve_tcp6 "$(ctr_ns c1)" 80 c1-80-v6
serve_tcp "$(ctr_ns c1)" 81 c1-81

# Every mapping, through the node from the remote client; prints one line per mapping.
traffic() {
  echo "mesos-tcp=$(tcp_get "$REMOTE" "$NODE_IP" 8080)"
  echo "mesos-udp=$(udp_get "$REMOTE" "$NODE_IP" 5353)"
  echo "chained-v4=$(tcp_get "$REMOTE" "$NODE_IP" 9090)"
  echo "chained-v6=$(tcp_get "$REMOTE" "$NODE_IP6" 9090)"
  echo "chained-hostip=$(tcp_get "$REMOTE" "$NODE_IP" 9191)"
}
ALL_UP=$'mesos-tcp=m1-80\nmesos-udp=m1-53\nchained-v4=c1-80\nchained-v6=c1-80-v6\nchained-hostip=c1-81'
ALL_DOWN=$'mesos-tcp=\nmesos-udp=\nchained-v4=\nchained-v6=\nchained-hostip='
# wait_traffic WANT SECONDS: polls until traffic() prints WANT; prints how long it took (ms).
wait_traffic() {
  local start=$(date +%s%N) got
  while :; do
    got=$(traffic)
    [ "$got" = "$1" ] && { echo $(( ($(date +%s%N) - start) / 1000000 )); return 0; }
    (( $(date +%s%N) - start > $2 * 1000000000 )) && { echo "got: $got" | tr '\n' ' '; return 1; }
    sleep 0.1
  done
}

log "records"
check "every mapping answers before the flush (the probes work)" [ "$(traffic)" = "$ALL_UP" ]
records=$(find "$STATE" -type f ! -name .lock | sort)
check "one record per attachment" [ "$(wc -l <<<"$records")" = 2 ]
check "the records are 0600 files in 0700 directories owned by root" \
  [ -z "$(find "$STATE" \( -type f ! -perm 0600 \) -o \( -type d ! -perm 0700 \) -o ! -user root)" ]
check "the records live under the boot id" grep -q "$STATE/$(cat /proc/sys/kernel/random/boot_id)/netns-" <<<"$records"
check "the Mesos record names its mappings" [ "$(jq '.mappings | length' "$(grep "$MESOS_ID" <<<"$records")")" = 2 ]

log "nft flush ruleset in the node"
nft_node flush ruleset
check "after the flush nothing answers (the flush took the mappings)" [ "$(traffic)" = "$ALL_DOWN" ]
runtime CHECK c1 "$(ctr_path c1)" "$T_DIR/chained.conflist" "$CHAINED_MAPS"
check "CHECK fails" [ "$T_RC" != 0 ]
echo "$T_OUT" | jq -r .msg | tr ";" "\n" | sed "s/^/    /"
check "CHECK names the missing host-IP mapping" grep -q "tcp/9191 on $NODE_IP -> .*is missing" <<<"$T_OUT"
check "CHECK names the missing unbound mapping" grep -q "tcp/9090.*is missing" <<<"$T_OUT"
check "CHECK says how to put them back" grep -q "nft-port-mapper restore" <<<"$T_OUT"
listing=$(pm list --state-dir "$STATE")
check "list marks the recorded mappings as missing" [ "$(grep -c "MISSING" <<<"$listing")" = 5 ]
check "list --json says missing" [ "$(pm list --json --state-dir "$STATE" | jq '[.[] | select(.state == "missing")] | length')" = 5 ]
out=$(pm restore --state-dir "$STATE" --dry-run)
check "restore --dry-run says what it would do" grep -q "would restore 2 attachments" <<<"$out"
check "... and does nothing" [ "$(traffic)" = "$ALL_DOWN" ]

log "restore"
set +e; out=$(pm restore --state-dir "$STATE"); rc=$?; set -e
echo "$out" | sed 's/^/    /'
check "restore exits 0" [ "$rc" = 0 ]
check "restore names both attachments" [ "$(grep -c '^restored net=' <<<"$out")" = 2 ]
check "traffic to every mapping is back" [ "$(traffic)" = "$ALL_UP" ]
runtime CHECK c1 "$(ctr_path c1)" "$T_DIR/chained.conflist" "$CHAINED_MAPS"
check "CHECK passes again" [ "$T_RC" = 0 ]
before=$(ruleset)
out=$(pm restore --state-dir "$STATE")
check "a second restore has nothing to do" grep -q "nothing to restore: 2 recorded attachments, 2 attachments in place" <<<"$out"
check "... and changes nothing" [ "$(ruleset)" = "$before" ]

log "the watcher"
ip netns exec "$NODE" "$NFTPM_BIN" watch --state-dir "$STATE" >"$T_DIR/watch.log" 2>&1 &
WATCH_PID=$!
T_PIDS+=("$WATCH_PID")
for _ in $(seq 50); do grep -q "watching" "$T_DIR/watch.log" && break; sleep 0.1; done
check "the watcher started" grep -q "watching" "$T_DIR/watch.log"
nft_node flush ruleset
ms=$(wait_traffic "$ALL_UP" 10) && ok=1 || ok=0
check "after a flush the watcher brings every mapping back by itself ($ms ms)" [ "$ok" = 1 ]
nft_node delete element inet nft_port_mapper RS-MESOS-v4 '{ tcp . 8080 }'
ms=$(wait_traffic "$ALL_UP" 10) && ok=1 || ok=0
check "one element deleted by hand comes back too ($ms ms)" [ "$ok" = 1 ]
nft_node delete table inet nft_port_mapper
ms=$(wait_traffic "$ALL_UP" 10) && ok=1 || ok=0
check "so does the table deleted by hand ($ms ms)" [ "$ok" = 1 ]
nft_node flush chain inet nft_port_mapper prerouting
nft_node flush chain inet nft_port_mapper RS-MESOS
ms=$(wait_traffic "$ALL_UP" 10) && ok=1 || ok=0
check "and the chains someone flushed get their rules back ($ms ms)" [ "$ok" = 1 ]
check "... each rule once" [ "$(nft_node list chain inet nft_port_mapper prerouting | grep -c jump)" = 4 ]
rss=$(awk '/VmRSS/ {print $2}' "/proc/$WATCH_PID/status")
log "watcher RSS ${rss} kB"
if [ "${NFTPM_SANITIZED:-0}" = 1 ]; then
  log "(the watcher's size is not checked in a sanitizer build: ASan's shadow memory alone is tens of MB)"
else
  check "the watcher uses a few MB ($rss kB)" [ "$rss" -lt 16384 ]
fi

log "DEL while the watcher runs: removed for good"
cni DEL "$MESOS_ID" "" "$T_DIR/mesos.json"
check "Mesos DEL exits 0" [ "$T_RC" = 0 ]
# Make the watcher restore once more after the DEL, and wait until it did (the chained mapping
# answers again): only then can a resurrection be seen.
nft_node delete table inet nft_port_mapper
back=0
for _ in $(seq 100); do [ "$(tcp_get "$REMOTE" "$NODE_IP" 9090)" = c1-80 ] && { back=1; break; }; sleep 0.1; done
check "the watcher restored after the DEL (the chained mapping answers again)" [ "$back" = 1 ]
check "the Mesos mappings stay gone (the watcher did not resurrect them)" \
  [ "$(owned_count "net=rs-mesos id=$MESOS_ID if=eth0")" = 0 ]
check "... while the chained ones still answer (control)" [ "$(tcp_get "$REMOTE" "$NODE_IP" 9090)" = c1-80 ]
check "... and the Mesos record is gone" [ -z "$(find "$STATE" -name "$MESOS_ID*")" ]
kill "$WATCH_PID"; wait "$WATCH_PID" 2>/dev/null || true
sed 's/^/    watch: /' "$T_DIR/watch.log"

log "DEL with other mappings than ADD"
mesos_config "$T_DIR/mesos2.json" rs-mesos RS-MESOS \
  '[{"host_port":42004,"container_port":80,"protocol":"tcp"},{"host_port":42006,"container_port":82,"protocol":"udp"}]' \
  "[\"$BRIDGE\"]" "{\"stateDir\": \"$STATE\"}"
mesos_config "$T_DIR/mesos2-del.json" rs-mesos RS-MESOS \
  '[{"host_port":42004,"container_port":80,"protocol":"tcp"},{"host_port":42006,"container_port":82,"protocol":"tcp"}]' \
  "[\"$BRIDGE\"]" "{\"stateDir\": \"$STATE\"}"
ctr_add m2
cni ADD m2 "$(ctr_path m2)" "$T_DIR/mesos2.json"
check "ADD tcp 42004 and udp 42006 exits 0" [ "$T_RC" = 0 ]
check "... which hold elements" [ "$(owned_count "net=rs-mesos id=m2 if=eth0")" -gt 0 ]
cni DEL m2 "$(ctr_path m2)" "$T_DIR/mesos2-del.json"
check "DEL naming tcp 42004 and tcp 42006 exits 0" [ "$T_RC" = 0 ]
check "... and leaves nothing of the container (udp 42006 included)" [ "$(owned_count "net=rs-mesos id=m2 if=eth0")" = 0 ]
check "... nor its record" [ -z "$(find "$STATE" -name "m2:*")" ]

log "GC removes the records of attachments that are not valid"
ctr_add g1
runtime ADD g1 "$(ctr_path g1)" "$T_DIR/chained.conflist" '[{"hostPort":9393,"containerPort":80,"protocol":"tcp"}]'
check "ADD of a container GC will collect exits 0" [ "$T_RC" = 0 ]
check "... which has a record" [ -n "$(find "$STATE" -name 'g1:eth0')" ]
printf '{"cniVersion":"1.1.0","name":"rs-chained","type":"nft-port-mapper","stateDir":"%s","cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"}]}' \
  "$STATE" >"$T_DIR/gc.json"
cni GC "" "" "$T_DIR/gc.json"
check "GC exits 0" [ "$T_RC" = 0 ]
check "... removes the invalid attachment's mappings" [ "$(owned_count "net=rs-chained id=g1 if=eth0")" = 0 ]
check "... and its record" [ -z "$(find "$STATE" -name 'g1:eth0*')" ]
check "... and keeps the valid one's record" [ -n "$(find "$STATE" -name 'c1:eth0')" ]
check "... and its mappings (they still answer)" [ "$(tcp_get "$REMOTE" "$NODE_IP" 9090)" = c1-80 ]
runtime DEL g1 "$(ctr_path g1)" "$T_DIR/chained.conflist" '[{"hostPort":9393,"containerPort":80,"protocol":"tcp"}]'
check "the runtime's DEL after GC exits 0" [ "$T_RC" = 0 ]

runtime DEL c1 "$(ctr_path c1)" "$T_DIR/chained.conflist" "$CHAINED_MAPS"
check "chained DEL exits 0" [ "$T_RC" = 0 ]
check "no record is left" [ -z "$(find "$STATE" -type f ! -name .lock)" ]
check_eq "no owned element is left" "$(owned_total)" 0
finish
