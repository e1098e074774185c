#!/usr/bin/env bash
# Switching a live node from mesos-cni-port-mapper: its rules, made exactly as it made them
# (iptables -t nat -N CHAIN, the PREROUTING/OUTPUT jumps with addrtype --dst-type LOCAL, DNAT rules
# tagged "container_id: ..."), are moved into our table by migrate-from-iptables while a TCP
# connection through the mapping stays open and keeps working; new connections work afterwards,
# the old chain is gone, and the plugin's own DEL then owns the migrated mappings.
source "$(dirname "$0")/harness.sh"
topology
ctr_add a
CHAIN=MESOS-OLD-PORT-MAPPER
CID=0f0f0f0f-1111-2222-3333-444444444444
ipt() { ip netns exec "$NODE" iptables -w -t nat "$@"; }

# The container, attached by the bridge delegate directly (as the old plugin did).
mesos_config "$T_DIR/conf.json" legacy-net "$CHAIN" '[{"host_port":8080,"container_port":80},{"host_port":8081,"container_port":81}]'
python3 - "$T_DIR/conf.json" "$T_DIR/bridge.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); d = c["delegate"]; d["name"] = c["name"]; json.dump(d, open(sys.argv[2], "w"))
PY
out=$(env -i CNI_COMMAND=ADD CNI_CONTAINERID=$CID CNI_NETNS="$(ctr_path a)" CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni \
      PATH=/usr/sbin:/usr/bin:/sbin:/bin ip netns exec "$NODE" /usr/lib/cni/bridge < "$T_DIR/bridge.json")
ip=$(json_get 'j["ip4"]["ip"].split("/")[0]' <<<"$out")
check "the bridge attached the container ($ip)" [ -n "$ip" ]

# The old plugin's rules.
ipt -N "$CHAIN"
ipt -A PREROUTING ! -i "$BRIDGE" -m addrtype --dst-type LOCAL -j "$CHAIN"
ipt -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j "$CHAIN"
ipt -A "$CHAIN" ! -i "$BRIDGE" -p tcp --dport 8080 -j DNAT --to-destination "$ip:80" -m comment --comment "container_id: $CID"
ipt -A "$CHAIN" ! -i "$BRIDGE" -p tcp --dport 8081 -j DNAT --to-destination "$ip:81" -m comment --comment "container_id: $CID"

ip netns exec "$(ctr_ns a)" socat TCP-LISTEN:80,fork,reuseaddr EXEC:cat >/dev/null 2>&1 & T_PIDS+=($!)
serve_tcp "$(ctr_ns a)" 81 hello
wait_listen "$(ctr_ns a)" 80
wait_listen "$(ctr_ns a)" 81
check "before: a new connection works through the old rules" [ "$(tcp_get "$REMOTE" "$NODE_IP" 8081)" = hello ]

# A live connection, open across the migration.
coproc LIVE { ip netns exec "$REMOTE" socat -T30 - "TCP:$NODE_IP:8080"; }
T_PIDS+=($LIVE_PID)
echo before >&"${LIVE[1]}"
read -r -t 5 line <&"${LIVE[0]}" || line=""
check "the live connection echoes before the migration" [ "$line" = before ]

pm() { ip netns exec "$NODE" "$NFTPM_BIN" "$@"; }
plan=$(pm migrate-from-iptables --chain "$CHAIN" --network legacy-net --dry-run)
check "--dry-run shows both mappings with their owner" [ "$(grep -c "owner net=legacy-net id=$CID if=eth0" <<<"$plan")" = 2 ]
check "--dry-run changes nothing (no table; the migration below makes one: the control)" no_table
check "... the old chain is still there" eval "ipt -S $CHAIN >/dev/null"
rules=$(ipt -S) || die "iptables -S failed"
check_match "... and 'iptables -S' lists it (control for 'the old chain is gone')" "^-N $CHAIN\$" "$rules"

set +e
out=$(pm migrate-from-iptables --chain "$CHAIN" --network legacy-net 2>&1)
rc=$?
set -e
check_eq "migrate-from-iptables exits 0" "$rc" 0
[ "$rc" = 0 ] || echo "    $out"
echo after >&"${LIVE[1]}"
read -r -t 5 line <&"${LIVE[0]}" || line=""
check "the live connection still echoes after the migration" [ "$line" = after ]
rules=$(ipt -S) || die "iptables -S failed"
check_no_match "the old chain is gone" "$CHAIN" "$rules"
check "the table exists now" table_exists
check "the mappings are in our table with the container's owner" \
  [ "$(owned_count "net=legacy-net id=$CID if=eth0")" -ge 4 ]
check "the excluded device came along" eval "nft_node list set inet nft_port_mapper $CHAIN-excl | grep '\"$BRIDGE\"' >/dev/null"
check "after: a new connection works through our table" [ "$(tcp_get "$REMOTE" "$NODE_IP" 8081)" = hello ]
exec {LIVE[1]}>&-

# The agent's next DEL for that container goes through the plugin and finds its mappings.
cni DEL "$CID" "$(ctr_path a)" "$T_DIR/conf.json"
check "the plugin's DEL of the migrated container exits 0" [ "$T_RC" = 0 ]
check "... and removes what was migrated" [ "$(owned_count "net=legacy-net id=$CID if=eth0")" = 0 ]
finish
