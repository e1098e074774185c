#!/usr/bin/env bash
# Delegate mode with a dual-stack delegate: the bridge returns ip4 and ip6 in the legacy result,
# and the mapping works over both families.
source "$(dirname "$0")/harness.sh"
topology
ctr_add a
CID=d6d6d6d6-0000-0000-0000-000000000006
cat > "$T_DIR/conf.json" <<JSON
{ "name": "mesos6", "type": "mesos-cni-port-mapper", "chain": "MESOS6-PORT-MAPPER", "excludeDevices": ["$BRIDGE"],
  "delegate": { "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true,
                "ipam": { "type": "host-local", "dataDir": "$T_DIR/ipam",
                          "ranges": [ [ { "subnet": "$CTR_SUBNET" } ], [ { "subnet": "$CTR_SUBNET6" } ] ],
                          "routes": [ { "dst": "0.0.0.0/0" }, { "dst": "::/0" } ] } },
  "args": { "org.apache.mesos": { "network_info": { "name": "mesos6",
            "port_mappings": [ { "host_port": 8080, "container_port": 80, "protocol": "tcp" } ] } } } }
JSON
cni ADD "$CID" "$(ctr_path a)" "$T_DIR/conf.json"
check "ADD exits 0" [ "$T_RC" = 0 ]
check "the legacy result carries ip6" [ -n "$(json_get 'j.get("ip6",{}).get("ip","")' <<<"$T_OUT")" ]
serve_tcp "$(ctr_ns a)" 80 hello-v4
serve_tcp6 "$(ctr_ns a)" 80 hello-v6
check "remote reaches the container over IPv4" [ "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" = hello-v4 ]
check "remote reaches the container over IPv6" [ "$(tcp_get "$REMOTE" "$NODE_IP6" 8080)" = hello-v6 ]
check "the container owns elements before DEL (control)" [ "$(owned_count "net=mesos6 id=$CID if=eth0")" -gt 0 ]
cni DEL "$CID" "$(ctr_path a)" "$T_DIR/conf.json"
check "DEL exits 0" [ "$T_RC" = 0 ]
check "DEL leaves nothing of the container" [ "$(owned_count "net=mesos6 id=$CID if=eth0")" = 0 ]
finish
