#!/usr/bin/env bash
# Every excludeDevices entry is honoured (the old plugin's loop kept only the last one): traffic
# arriving on either excluded device is not mapped; traffic on another device is.
source "$(dirname "$0")/netns.sh"
topology
remote_add r2 uplink2 2
remote_add r3 uplink3 3
ctr_add a
mesos_config "$T_DIR/conf.json" excl-net EXCL-PORT-MAPPER '[{"host_port":8080,"container_port":80}]' \
  '["uplink", "uplink2"]'
cni ADD 11111111-2222-3333-4444-555555555555 "$(ctr_path a)" "$T_DIR/conf.json"
check "ADD exits 0" [ "$T_RC" = 0 ]
serve_tcp "$(ctr_ns a)" 80 hello
wait_listen "$(ctr_ns a)" 80
check "not mapped from the first excluded device" [ -z "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" ]
check "not mapped from the second excluded device" [ -z "$(tcp_get "$T_ID-r2" 10.98.2.1 8080)" ]
check "mapped from a device that is not excluded" [ "$(tcp_get "$T_ID-r3" 10.98.3.1 8080)" = hello ]
excl=$(nft_node list set inet nft_port_mapper EXCL-PORT-MAPPER-excl)
check "the first device is in the network's exclusion set" grep -q '"uplink"' <<<"$excl"
check "the second device is in the network's exclusion set" grep -q '"uplink2"' <<<"$excl"
finish
