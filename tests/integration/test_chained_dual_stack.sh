#!/usr/bin/env bash
# Chained mode as containerd/CRI-O/Podman run it through libcni (tests/tools/cni_conflist.py):
# bridge + host-local (IPv4 and IPv6) then our plugin with runtimeConfig.portMappings, for
# cniVersion 0.4.0 and 1.0.0: TCP and UDP over both families from a remote namespace, CHECK,
# DEL in reverse order, and nothing left behind.
source "$(dirname "$0")/netns.sh"
topology
MAPS='[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},{"hostPort":5353,"containerPort":53,"protocol":"udp"}]'
for version in 0.4.0 1.0.0; do
  log "cniVersion $version"
  ctr=c${version//./}
  ctr_add "$ctr"
  conflist "$T_DIR/$ctr.conflist" "chained-$ctr" "$version"
  runtime ADD "$ctr" "$(ctr_path "$ctr")" "$T_DIR/$ctr.conflist" "$MAPS"
  check "ADD through the chain exits 0" [ "$T_RC" = 0 ]
  check "the result is the bridge's, in $version" [ "$(json_get 'j["cniVersion"]' <<<"$T_OUT")" = "$version" ]
  check "the result has the container's IPv6 address" grep -q "fd77:" <<<"$T_OUT"
  serve_tcp "$(ctr_ns "$ctr")" 80 "v4-$ctr"
  serve_tcp6 "$(ctr_ns "$ctr")" 80 "v6-$ctr"
  serve_udp "$(ctr_ns "$ctr")" 53 "udp-$ctr"
  wait_listen "$(ctr_ns "$ctr")" 80
  wait_listen "$(ctr_ns "$ctr")" 80 tcp6
  wait_listen "$(ctr_ns "$ctr")" 53 udp
  check "remote reaches $NODE_IP:8080 over IPv4" [ "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" = "v4-$ctr" ]
  check "remote reaches [$NODE_IP6]:8080 over IPv6" [ "$(tcp_get "$REMOTE" "$NODE_IP6" 8080)" = "v6-$ctr" ]
  check "remote reaches $NODE_IP:5353 over UDP" [ "$(udp_get "$REMOTE" "$NODE_IP" 5353)" = "udp-$ctr" ]
  runtime CHECK "$ctr" "$(ctr_path "$ctr")" "$T_DIR/$ctr.conflist" "$MAPS"
  check "CHECK through the chain exits 0" [ "$T_RC" = 0 ]
  runtime DEL "$ctr" "$(ctr_path "$ctr")" "$T_DIR/$ctr.conflist" "$MAPS"
  check "DEL through the chain (reverse order) exits 0" [ "$T_RC" = 0 ]
  check "nothing of the container is left in the table" [ "$(owned_count "net=chained-$ctr id=$ctr if=eth0")" = 0 ]
  check "IPv4 no longer mapped" [ -z "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" ]
  check "IPv6 no longer mapped" [ -z "$(tcp_get "$REMOTE" "$NODE_IP6" 8080)" ]
done
finish
