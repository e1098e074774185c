#!/usr/bin/env bash
# Three containers ADDed at the same time, twice: first on a node with no table yet (the
# processes race to create table, sets, chains and hooks), then on a node where everything
# exists. Each time all three map their distinct host ports and are reachable, the three
# concurrent DELs leave no container element behind, and the base chains are hooked only once.
source "$(dirname "$0")/harness.sh"
topology
NET="it-conc-$$"
CHAIN="CONC-IT-PORT-MAPPER"
for i in 1 2 3; do
  mesos_config "$T_DIR/conf$i.json" "$NET" "$CHAIN" \
    "[{\"host_port\":808$i,\"container_port\":80,\"protocol\":\"tcp\"},{\"host_port\":535$i,\"container_port\":53,\"protocol\":\"udp\"}]"
done
cid() { echo "cafe000$2-0000-4000-8000-00000000000$1"; }   # cid ROUND I

# run_parallel VERB ROUND: the three calls started together; exit codes in $T_DIR/<verb><round>.<i>
run_parallel() {
  local verb=$1 round=$2 i pids=()
  for i in 1 2 3; do
    (
      cni "$verb" "$(cid "$round" "$i")" "$(ctr_path "c$round$i")" "$T_DIR/conf$i.json"
      echo "$T_RC" >"$T_DIR/$verb$round.rc$i"
      printf '%s\n%s\n' "$T_OUT" "$T_ERR" >"$T_DIR/$verb$round.out$i"
    ) &
    pids+=($!)
  done
  wait "${pids[@]}"
}

for round in 1 2; do
  if [ "$round" = 1 ]; then
    log "round 1: concurrent ADD on a node without the table"
    check_eq "the table does not exist yet" "$(nft_dump)" ""
  else
    log "round 2: concurrent ADD on a node where the table and chains exist"
  fi
  for i in 1 2 3; do ctr_add "c$round$i"; done
  run_parallel ADD "$round"
  for i in 1 2 3; do
    rc=$(cat "$T_DIR/ADD$round.rc$i")
    check_eq "ADD of container $i exits 0" "$rc" 0
    [ "$rc" = 0 ] || sed 's/^/    /' "$T_DIR/ADD$round.out$i"
  done
  ips=()
  for i in 1 2 3; do
    ips+=("$(jget '.ip4.ip // empty' "$(head -1 "$T_DIR/ADD$round.out$i")")")
    serve_tcp "$(ctr_ns "c$round$i")" 80 "hello-$round$i"
    serve_udp "$(ctr_ns "c$round$i")" 53 "udp-$round$i"
  done
  check_eq "the three containers got three distinct addresses (${ips[*]})" \
    "$(printf '%s\n' "${ips[@]}" | grep -c . | tr -d ' ')/$(printf '%s\n' "${ips[@]}" | sort -u | grep -c .)" "3/3"
  for i in 1 2 3; do
    check_eq "container $i reachable from the remote client on tcp 808$i" "$(tcp_get "$REMOTE" "$NODE_IP" "808$i")" "hello-$round$i"
    check_eq "container $i reachable from the remote client on udp 535$i" "$(udp_get "$REMOTE" "$NODE_IP" "535$i")" "udp-$round$i"
    check_eq "container $i owns exactly its 2 map elements in $CHAIN-v4" \
      "$(owned_elements "$(tag_of "$NET" "$(cid "$round" "$i")" eth0)" | grep -c "^$CHAIN-v4 " || true)" 2
  done
  pre=$(nft_node list chain $TABLE prerouting) || die "nft list chain prerouting failed"
  check_eq "the prerouting hook chain jumps to the network's chain once, not once per racer" \
    "$(grep -cE "(jump|goto) $CHAIN\$" <<<"$pre" || true)" 1
  check_eq "exactly one 'type nat hook prerouting' base chain in the table" \
    "$(nft_dump | grep -c 'type nat hook prerouting' || true)" 1

  held=$(ls "$IPAM_DIR/$NET") || die "cannot list host-local's dataDir"
  check_eq "host-local holds the three addresses (control for the count after DEL)" "$(grep -c '^10\.' <<<"$held" || true)" 3
  log "round $round: concurrent DEL"
  run_parallel DEL "$round"
  for i in 1 2 3; do
    rc=$(cat "$T_DIR/DEL$round.rc$i")
    check_eq "DEL of container $i exits 0" "$rc" 0
    [ "$rc" = 0 ] || sed 's/^/    /' "$T_DIR/DEL$round.out$i"
  done
  left=$(elements_except_excl)
  check_eq "no container element is left in any set or map" "$left" ""
  check_eq "no element with an owner comment is left" "$(owned_total)" 0
  for i in 1 2 3; do
    check_no_answer "tcp 808$i is no longer mapped" tcp "$REMOTE" "$NODE_IP" "808$i"
  done
  held=$(ls "$IPAM_DIR/$NET") || die "cannot list host-local's dataDir"
  check_eq "host-local holds no address any more" "$(grep -c '^10\.' <<<"$held" || true)" 0
done
finish
