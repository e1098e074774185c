#!/usr/bin/env bash
# Attachment records under faults: SIGKILL at random instants of ADD, DEL and restore converges
# (after what the runtime does next) to no leaked and no ghost mapping; restore racing DEL never
# resurrects; bad records of every kind are reported by path while everything else works; a state
# directory that cannot be trusted fails ADD with a clear CNI error and changes nothing.
source "$(dirname "$0")/harness.sh"
topology
# What a flush does to us. (Not `nft flush ruleset`: it also takes the bridge plugin's ipMasq
# chains, and Debian's bridge then fails its own DEL, which would hide what is tested here.)
flush_ours() { nft_node delete table inet nft_port_mapper; }
STATE="$T_DIR/state"
pm() { ip netns exec "$NODE" "$NFTPM_BIN" "$@"; }
config() {  # config FILE HOST_PORT [STATE_DIR]
  mesos_config "$1" rf-net RF-NET \
    "[{\"host_port\":$2,\"container_port\":80,\"protocol\":\"tcp\"},{\"host_port\":$(($2 + 1)),\"container_port\":53,\"protocol\":\"udp\"}]" \
    "[\"$BRIDGE\"]" "{\"stateDir\": \"${3:-$STATE}\"}"
}
tag() { echo "net=rf-net id=$1 if=eth0"; }
records_of() { find "$STATE" -name "$1:eth0*" 2>/dev/null | wc -l; }
# The keeper is never deleted: every fault below must leave it mapped, and every restore must
# bring it back; it is also the control that a probe of a mapping can succeed.
config "$T_DIR/keeper.json" 7000
ctr_add keeper
cni ADD keeper "$(ctr_path keeper)" "$T_DIR/keeper.json"
check "the keeper's ADD exits 0" [ "$T_RC" = 0 ]
serve_tcp "$(ctr_ns keeper)" 80 keeper
check "the keeper answers (the probe works)" [ "$(tcp_get "$REMOTE" "$NODE_IP" 7000)" = keeper ]
KEEPER_ELEMENTS=$(owned_count "$(tag keeper)")
check "the keeper owns elements" [ "$KEEPER_ELEMENTS" -gt 0 ]
check "the keeper has a record (control for 'converged' below)" [ "$(records_of keeper)" -gt 0 ]
check "host-local holds the keeper's address (control for 'converged' below)" eval '! no_address keeper'
# kill_after MS CMD...: runs CMD (the plugin, in the node) and SIGKILLs it after MS milliseconds.
kill_after() {
  local ms=$1; shift
  (timeout -s KILL "$(printf '0.%03d' "$ms")" "$@" >/dev/null 2>&1 || true) 2>/dev/null
}
plugin_env() {  # plugin_env VERB ID NETNS: the Mesos agent's environment
  echo CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_IFNAME=eth0 CNI_PATH="$CNI_BIN" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    ${3:+CNI_NETNS=$3}
}
no_address() {  # no_address ID: host-local holds none for ID (a grep that cannot read ends the test)
  local rc=0
  grep -rqx "$1" "$IPAM_DIR" || rc=$?
  ((rc <= 1)) || die "cannot read host-local's dataDir $IPAM_DIR"
  [ "$rc" = 1 ]
}
converged() {  # converged ID: nothing of ID in the kernel, its records or host-local
  [ "$(owned_count "$(tag "$1")")" = 0 ] && [ "$(records_of "$1")" = 0 ] && no_address "$1"
}

log "SIGKILL at random instants of ADD, then what the runtime does next (DEL, maybe after a restore)"
bad_runs=0
for i in $(seq 1 12); do
  id="kadd$i"; ctr_add "$id"; config "$T_DIR/$id.json" $((7100 + 2 * i))
  kill_after $((RANDOM % 60 + 1)) env -i $(plugin_env ADD "$id" "$(ctr_path "$id")") \
    ip netns exec "$NODE" "$NFTPM_BIN" <"$T_DIR/$id.json"
  sleep 0.2  # a delegate orphaned by the kill finishes its ADD
  ((i % 2)) && pm restore --state-dir "$STATE" >/dev/null || true
  cni DEL "$id" "$(ctr_path "$id")" "$T_DIR/$id.json"
  [ "$T_RC" = 0 ] && converged "$id" || { bad_runs=$((bad_runs + 1)); echo "    run $i: rc=$T_RC elements=$(owned_count "$(tag "$id")") records=$(records_of "$id")"; }
done
check "12 killed ADDs converge after DEL (no element, no record, no address left)" [ "$bad_runs" = 0 ]

log "SIGKILL at random instants of DEL, then DEL again (maybe after a restore)"
bad_runs=0
for i in $(seq 1 12); do
  id="kdel$i"; ctr_add "$id"; config "$T_DIR/$id.json" $((7200 + 2 * i))
  cni ADD "$id" "$(ctr_path "$id")" "$T_DIR/$id.json"
  [ "$T_RC" = 0 ] || { bad_runs=$((bad_runs + 1)); continue; }
  kill_after $((RANDOM % 25 + 1)) env -i $(plugin_env DEL "$id" "$(ctr_path "$id")") \
    ip netns exec "$NODE" "$NFTPM_BIN" <"$T_DIR/$id.json"
  if ((i % 2)); then
    flush_ours
    pm restore --state-dir "$STATE" >/dev/null || true
  fi
  cni DEL "$id" "$(ctr_path "$id")" "$T_DIR/$id.json"
  [ "$T_RC" = 0 ] && converged "$id" || { bad_runs=$((bad_runs + 1)); echo "    run $i: rc=$T_RC elements=$(owned_count "$(tag "$id")") records=$(records_of "$id")"; }
done
check "12 killed DELs converge after the next DEL" [ "$bad_runs" = 0 ]

log "SIGKILL at random instants of restore, then restore again"
for i in $(seq 1 4); do ctr_add "many$i"; config "$T_DIR/many$i.json" $((7300 + 2 * i)); cni ADD "many$i" "$(ctr_path "many$i")" "$T_DIR/many$i.json"; done
want=$(owned_total)
bad_runs=0
for i in $(seq 1 10); do
  flush_ours
  kill_after $((RANDOM % 8 + 1)) ip netns exec "$NODE" "$NFTPM_BIN" restore --state-dir "$STATE"
  set +e; out=$(pm restore --state-dir "$STATE"); rc=$?; set -e
  got=$(owned_total)
  [ "$rc" = 0 ] && [ "$got" = "$want" ] || { bad_runs=$((bad_runs + 1)); echo "    run $i: rc=$rc elements $got of $want: $out"; }
done
check "10 killed restores: the next restore brings back all $want elements" [ "$bad_runs" = 0 ]
check "the keeper answers after all that" [ "$(tcp_get "$REMOTE" "$NODE_IP" 7000)" = keeper ]
for i in $(seq 1 4); do cni DEL "many$i" "" "$T_DIR/many$i.json"; done

log "restore racing DEL never resurrects"
# A container with 4,000 mappings makes each restore last long enough for the DEL to land inside it.
ctr_add big
mesos_config "$T_DIR/big.json" rf-net RF-NET \
  "$(jq -nc '[range(20000; 24000) | {host_port: ., container_port: 80, protocol: "tcp"}]')" \
  "[\"$BRIDGE\"]" "{\"stateDir\": \"$STATE\"}"
cni ADD big "$(ctr_path big)" "$T_DIR/big.json"
check "a container with 4,000 mappings is added" [ "$T_RC" = 0 ]
bad_runs=0
for i in $(seq 1 15); do
  id="race$i"; ctr_add "$id"; config "$T_DIR/$id.json" $((7400 + 2 * i))
  cni ADD "$id" "$(ctr_path "$id")" "$T_DIR/$id.json"
  flush_ours
  pm restore --state-dir "$STATE" >/dev/null &
  rpid=$!
  sleep "0.0$((RANDOM % 4))$((RANDOM % 10))"
  cni DEL "$id" "$(ctr_path "$id")" "$T_DIR/$id.json"
  wait "$rpid" || true
  [ "$T_RC" = 0 ] && converged "$id" || { bad_runs=$((bad_runs + 1)); echo "    run $i: rc=$T_RC elements=$(owned_count "$(tag "$id")") records=$(records_of "$id") $(no_address "$id" || echo address left: $(grep -rlx "$id" "$T_DIR/ipam"))"; }
  pm restore --state-dir "$STATE" >/dev/null
  [ "$(owned_count "$(tag "$id")")" = 0 ] || { bad_runs=$((bad_runs + 1)); echo "    run $i: a ghost still there after a later restore"; }
done
check "15 DELs racing a restore: no ghost mapping, no record" [ "$bad_runs" = 0 ]
check "the keeper is fully back (control: restore works in the same runs)" \
  [ "$(owned_count "$(tag keeper)")" = "$KEEPER_ELEMENTS" ]
# Its DEL looks up its 12,000 keys many to a netlink message (Nftables::get_elements), and the
# kernel stops reading a message at its first missing key: with holes and a stranger's element
# among the keys, every other element must still go, and the stranger's stay.
big_before=$(owned_count "$(tag big)")
check "control: the big container owns its 4,000 mappings' elements ($big_before)" [ "$big_before" -ge 8000 ]
big_target=$(nft_json | jq -r '.nftables[] | .map // empty | select(.name == "RF-NET-v4") | .elem[]
  | select(.[0].elem.val.concat[1] == 22000) | .[1].concat | "\(.[0]) . \(.[1])"')
check_match "control: the map element of tcp/22000 is read ($big_target)" '^[0-9.]+ \. 80$' "$big_target"
stranger='net=other id=stranger if=eth0'
for p in 20001 21500 21501 23998; do nft_node delete element inet nft_port_mapper ports "{ tcp . $p }"; done
nft_node delete element inet nft_port_mapper RF-NET-v4 "{ tcp . 21000 }"
nft_node delete element inet nft_port_mapper RF-NET-v4 "{ tcp . 22000 }"
nft_node add element inet nft_port_mapper RF-NET-v4 "{ tcp . 22000 comment \"$stranger\" : $big_target }"
check_eq "control: the holes and the stranger are in place" \
  "$(owned_count "$(tag big)") $(owned_count "$stranger")" "$((big_before - 6)) 1"
cni DEL big "" "$T_DIR/big.json"
check "the big container's DEL exits 0" [ "$T_RC" = 0 ]
check_eq "and leaves nothing of it" "$(owned_count "$(tag big)")" 0
check_eq "and leaves the stranger's element" "$(owned_count "$stranger")" 1
nft_node delete element inet nft_port_mapper RF-NET-v4 "{ tcp . 22000 }"

log "bad records"
NSDIR=$(dirname "$(find "$STATE" -name 'keeper:eth0')")
KEEPER_REC="$NSDIR/keeper:eth0"
head -c 60 "$KEEPER_REC" >"$NSDIR/trunc:eth0"
echo 'not json' >"$NSDIR/garbage:eth0"
jq -c '.version = 2 | .containerID = "v2"' "$KEEPER_REC" >"$NSDIR/v2:eth0"
ln -s /etc/hostname "$NSDIR/link:eth0"
jq -c '.containerID = "nobody"' "$KEEPER_REC" >"$NSDIR/nobody:eth0"; chown 65534 "$NSDIR/nobody:eth0"
jq -c '.containerID = "open"' "$KEEPER_REC" >"$NSDIR/open:eth0"; chmod 0644 "$NSDIR/open:eth0"
jq -c '.containerID = "other"' "$KEEPER_REC" >"$NSDIR/misnamed:eth0"
mkdir "$NSDIR/adir:eth0"
mkfifo "$NSDIR/fifo:eth0"
# A well-formed record claiming the keeper's host port, younger than the keeper's.
jq -c '.containerID = "dup" | .createdNs = (.createdNs + 1)' "$KEEPER_REC" >"$NSDIR/dup:eth0"
chmod 0600 "$NSDIR"/*:eth0 2>/dev/null || true
chmod 0644 "$NSDIR/open:eth0"
flush_ours
set +e; out=$(timeout 20 ip netns exec "$NODE" "$NFTPM_BIN" restore --state-dir "$STATE"); rc=$?; set -e
echo "$out" | sed 's/^/    /'
check "restore finishes and exits 1 (not everything is back)" [ "$rc" = 1 ]
for name in trunc garbage v2 link nobody open misnamed adir fifo; do
  check "restore reports $name:eth0 by path" grep -q "^bad record $NSDIR/$name:eth0: " <<<"$out"
done
check "... truncated: says so" grep -q "trunc:eth0: not valid JSON (truncated?)" <<<"$out"
check "... another version: says so" grep -q "v2:eth0: record format version 2" <<<"$out"
check "... not root's: says so" grep -q "nobody:eth0: .*owned by uid 65534" <<<"$out"
check "... open to others: says so" grep -q "open:eth0: .*mode 0644" <<<"$out"
check "the record claiming a taken host port is not restored, and names the holder" \
  grep -q "not restored: net=rf-net id=dup if=eth0: host port tcp/7000 is .*container keeper" <<<"$out"
check "the keeper is restored all the same" [ "$(tcp_get "$REMOTE" "$NODE_IP" 7000)" = keeper ]
check "nothing was lost: every bad record is still there" \
  [ "$(ls "$NSDIR" | grep -cE '^(trunc|garbage|v2|link|nobody|open|misnamed|adir|fifo|dup):eth0$')" = 10 ]
check "the link's target is untouched" [ -s /etc/hostname ]
ctr_add other
config "$T_DIR/other.json" 7600
cni ADD other "$(ctr_path other)" "$T_DIR/other.json"
check "another container's ADD works beside the bad records" [ "$T_RC" = 0 ]
cni DEL other "" "$T_DIR/other.json"
check "... and its DEL" [ "$T_RC" = 0 ] && check "... leaving nothing" converged other
printf '{"cniVersion":"1.1.0","name":"rf-net","type":"nft-port-mapper","stateDir":"%s","cni.dev/valid-attachments":[{"containerID":"keeper","ifname":"eth0"}]}' "$STATE" >"$T_DIR/gc.json"
# DEL of an attachment whose record path holds a link: removes the link only.
config "$T_DIR/link.json" 7700
cni DEL link "" "$T_DIR/link.json"
check "DEL of an attachment whose record is a link exits 0" [ "$T_RC" = 0 ]
check "... removes the link, not its target" [ ! -e "$NSDIR/link:eth0" ] && check "... (target intact)" [ -s /etc/hostname ]
rm -rf "$NSDIR"/{trunc,garbage,v2,nobody,open,misnamed,adir,fifo,dup}:eth0

log "a state directory that cannot be trusted"
ruleset_before=$(ruleset)
for case in notdir symlink foreign open; do
  dir="$T_DIR/bad-$case"
  case $case in
    notdir) echo x >"$T_DIR/afile"; dir="$T_DIR/afile/state" ;;
    symlink) mkdir -p "$T_DIR/real"; chmod 700 "$T_DIR/real"; ln -s "$T_DIR/real" "$dir" ;;
    foreign) mkdir -m 700 "$dir"; chown 65534 "$dir" ;;
    open) mkdir -m 755 "$dir" ;;
  esac
  ctr_add "sd$case"
  config "$T_DIR/sd$case.json" 7800 "$dir"
  cni ADD "sd$case" "$(ctr_path "sd$case")" "$T_DIR/sd$case.json"
  check "stateDir $case: ADD fails" [ "$T_RC" != 0 ]
  check "... with a CNI error naming the record" \
    [ "$(json_get 'j["code"]' <<<"$T_OUT")" = 5 ] && grep -q "cannot keep the attachment's record" <<<"$T_OUT"
  echo "    $(json_get 'j["msg"]' <<<"$T_OUT")"
  check "... leaving the ruleset as it was" [ "$(ruleset)" = "$ruleset_before" ]
  check "... and no address in host-local (the delegate was undone)" no_address "sd$case"
done

cni DEL keeper "" "$T_DIR/keeper.json"
check "the keeper's DEL exits 0" [ "$T_RC" = 0 ] && check "... leaving nothing" converged keeper
finish
