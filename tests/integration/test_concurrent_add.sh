#!/usr/bin/env bash
# Three containers added at the same time on an empty node: the processes race to create the
# table; the generation-guarded batches let exactly one create it and all three map their ports.
source "$(dirname "$0")/netns.sh"
topology
for i in 1 2 3; do ctr_add c$i; done
for i in 1 2 3; do
  mesos_config "$T_DIR/conf$i.json" conc-net CONC-PORT-MAPPER "[{\"host_port\":808$i,\"container_port\":80}]"
done
pids=()
for i in 1 2 3; do
  ( cni ADD "cafe000$i-0000-0000-0000-000000000000" "$(ctr_path c$i)" "$T_DIR/conf$i.json"
    echo "$T_RC" > "$T_DIR/rc$i" ) &
  pids+=($!)
done
wait "${pids[@]}"
for i in 1 2 3; do check "ADD $i exits 0" [ "$(cat "$T_DIR/rc$i")" = 0 ]; done
for i in 1 2 3; do serve_tcp "$(ctr_ns c$i)" 80 "hello-$i"; done
for i in 1 2 3; do wait_listen "$(ctr_ns c$i)" 80; done
for i in 1 2 3; do check "container $i reachable on 808$i" [ "$(tcp_get "$REMOTE" "$NODE_IP" 808$i)" = "hello-$i" ]; done
check "the network's chains were hooked once (one jump pair, not three)" \
  [ "$(nft_node list chain inet nft_port_mapper prerouting | grep -c 'jump CONC-PORT-MAPPER')" = 2 ]
pids=()
for i in 1 2 3; do
  ( cni DEL "cafe000$i-0000-0000-0000-000000000000" "$(ctr_path c$i)" "$T_DIR/conf$i.json"; echo "$T_RC" > "$T_DIR/del$i" ) &
  pids+=($!)
done
wait "${pids[@]}"
for i in 1 2 3; do check "DEL $i exits 0" [ "$(cat "$T_DIR/del$i")" = 0 ]; done
check "no element is left" [ "$(nft_node list table inet nft_port_mapper | grep -c comment)" = 0 ]
finish
