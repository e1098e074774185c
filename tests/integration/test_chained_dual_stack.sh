#!/usr/bin/env bash
# Chained mode as containerd/CRI-O/Podman run it through libcni (tests/tools/cni_conflist.py):
# bridge + host-local (IPv4 and IPv6) then our plugin with runtimeConfig.portMappings, for
# cniVersion 0.4.0 and 1.0.0: TCP and UDP over both families from a remote namespace, CHECK,
# DEL in reverse order, and nothing left behind.
source "$(dirname "$0")/harness.sh"
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
  check "remote reaches $NODE_IP:8080 over IPv4" [ "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" = "v4-$ctr" ]
  check "remote reaches [$NODE_IP6]:8080 over IPv6" [ "$(tcp_get "$REMOTE" "$NODE_IP6" 8080)" = "v6-$ctr" ]
  check "remote reaches $NODE_IP:5353 over UDP" [ "$(udp_get "$REMOTE" "$NODE_IP" 5353)" = "udp-$ctr" ]
  runtime CHECK "$ctr" "$(ctr_path "$ctr")" "$T_DIR/$ctr.conflist" "$MAPS"
  check "CHECK through the chain exits 0" [ "$T_RC" = 0 ]
  check "the container owns elements before DEL (control)" [ "$(owned_count "net=chained-$ctr id=$ctr if=eth0")" -gt 0 ]
  runtime DEL "$ctr" "$(ctr_path "$ctr")" "$T_DIR/$ctr.conflist" "$MAPS"
  check "DEL through the chain (reverse order) exits 0" [ "$T_RC" = 0 ]
  check "nothing of the container is left in the table" [ "$(owned_count "net=chained-$ctr id=$ctr if=eth0")" = 0 ]
  check_no_answer "IPv4 no longer mapped" tcp "$REMOTE" "$NODE_IP" 8080
  check_no_answer "IPv6 no longer mapped" tcp "$REMOTE" "$NODE_IP6" 8080
done

log "a refused ADD, then the runtime's DEL of the whole list"
# Port 0 is refused after bridge/host-local attached the container. The runtime then runs DEL
# for the list (ours first, without prevResult); ours must not fail it, or bridge's DEL would
# never run and the address and veth would leak.
ctr_add bad
conflist "$T_DIR/bad.conflist" chained-bad 1.0.0
BAD='[{"hostPort":0,"containerPort":80,"protocol":"tcp"}]'
runtime ADD bad "$(ctr_path bad)" "$T_DIR/bad.conflist" "$BAD"
check "ADD with host port 0 is refused with code 101" [ "$(json_get 'j["code"]' <<<"$T_OUT")" = 101 ]
check "... after host-local gave the container an address" \
  [ "$(find "$T_DIR/ipam/chained-bad" -name '10.*' 2>/dev/null | wc -l)" = 1 ]
runtime DEL bad "$(ctr_path bad)" "$T_DIR/bad.conflist" "$BAD"
check "DEL of the list with the same bad mapping exits 0" [ "$T_RC" = 0 ]
check "bridge's DEL ran: host-local holds no address" \
  [ "$(find "$T_DIR/ipam/chained-bad" -name '10.*' -o -name 'fd*' 2>/dev/null | wc -l)" = 0 ]
check "... and the container has no eth0" link_absent "$(ctr_ns bad)" eth0
finish
