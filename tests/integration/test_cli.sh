#!/usr/bin/env bash
# The operator's command line against a real ruleset: list (table and --json parsed back, with
# filters), check (node and --config), remove, gc, uninstall; and the per-call log file.
source "$(dirname "$0")/harness.sh"
topology
pm() { ip netns exec "$NODE" "$NFTPM_BIN" "$@"; }
for c in a b c; do ctr_add $c; done
mesos_config "$T_DIR/a.json" cli-net CLI-PORT-MAPPER '[{"host_port":8080,"container_port":80},{"host_port":5353,"container_port":53,"protocol":"udp"}]' \
  "[\"$BRIDGE\"]" "{\"logFile\": \"$T_DIR/calls.log\", \"logLevel\": \"info\"}"
mesos_config "$T_DIR/b.json" cli-net CLI-PORT-MAPPER '[{"host_port":8081,"container_port":80}]' "[\"$BRIDGE\"]" \
  "{\"logFile\": \"$T_DIR/calls.log\"}"
mesos_config "$T_DIR/c.json" cli-net CLI-PORT-MAPPER '[{"host_port":8082,"container_port":80}]'
cni ADD cli-a "$(ctr_path a)" "$T_DIR/a.json"; check "ADD a" [ "$T_RC" = 0 ]
cni ADD cli-b "$(ctr_path b)" "$T_DIR/b.json"; check "ADD b" [ "$T_RC" = 0 ]
cni ADD cli-c "$(ctr_path c)" "$T_DIR/c.json"; check "ADD c" [ "$T_RC" = 0 ]

log "list"
out=$(pm list)
check "list shows a's mapping with its owner" grep -qE "^tcp +\*:8080 +-> +10\.[0-9.]+:80 +cli-net +eth0 +cli-a$" <<<"$out"
check "list shows the udp mapping" grep -qE "^udp +\*:5353 " <<<"$out"
json=$(pm list --json)
check "list --json parses and holds 4 mappings" [ "$(json_get 'len(j)' <<<"$json")" = 4 ]
check "list --json carries owner fields" [ "$(json_get '[m["containerID"] for m in j if m["hostPort"]==8081][0]' <<<"$json")" = cli-b ]
check "list --container filters" [ "$(pm list --json --container cli-a | json_get 'len(j)')" = 2 ]
check "list --network filters" [ "$(pm list --json --network other | json_get 'len(j)')" = 0 ]
check "every subcommand has --help" eval 'for s in list check remove gc uninstall migrate-from-iptables; do pm $s --help | grep Usage >/dev/null || exit 1; done'

log "check"
set +e; said=$(pm check 2>&1); rc=$?; set -e
check_eq "check passes on this node" "$rc" 0
check_match "... and reports the table with its owned elements" "table inet nft_port_mapper holds [1-9][0-9]* owned elements" "$said"
check_match "... and that forwarding is on" "IPv4 forwarding is on" "$said"
check "check --config validates a good config" eval "pm check --config $T_DIR/a.json --cni-path /usr/lib/cni | grep 'valid (network cli-net' >/dev/null"
echo '{"name":"x","chain":"bad chain","delegate":{"type":"nope"}}' > "$T_DIR/bad.json"
set +e; bad=$(pm check --config "$T_DIR/bad.json"); rc=$?; set -e
check "check --config fails on a bad config, naming the problem" [ "$rc" != 0 ]
check "... and says what is wrong" grep -q 'is not a valid chain name' <<<"$bad"
ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=0
check "check warns when forwarding is off" eval "pm check | grep 'forwarding is off' >/dev/null"
ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=1

log "remove, gc"
check "remove --container takes that container's mappings" eval "pm remove --container cli-a | grep 'removed 5 elements of 1 owner' >/dev/null"
check "... and only them" [ "$(pm list --json | json_get 'sorted(m["containerID"] for m in j)')" = '["cli-b", "cli-c"]' ]
check "gc keeps the valid attachment" eval "pm gc --network cli-net --valid cli-b:eth0 | grep 'of 1 owner' >/dev/null"
check "... and took the other" [ "$(pm list --json | json_get '[m["containerID"] for m in j]')" = '["cli-b"]' ]

log "uninstall"
set +e; pm uninstall >/dev/null 2>&1; rc=$?; set -e
check "uninstall refuses while mappings remain" [ "$rc" != 0 ]
check "... leaving the table" eval "nft_node list table inet nft_port_mapper >/dev/null"
cni DEL cli-b "$(ctr_path b)" "$T_DIR/b.json"
check "uninstall succeeds once empty" eval "pm uninstall >/dev/null"
check "... and the table is gone (it was there before: the check above)" no_table
cni ADD cli-b "$(ctr_path b)" "$T_DIR/b.json"
check "ADD b again puts the table back (control for the check below)" table_exists
check "uninstall --force removes a table with mappings" eval "pm uninstall --force >/dev/null"
check "... and the table is gone" no_table

log "call log"
check "the log names the verb, network, container and what was added" \
  grep -qE "info ADD net=cli-net id=cli-a if=eth0: added tcp/8080 -> 10\.[0-9.]+:80" "$T_DIR/calls.log"
check "the log has the delegate step with its duration" grep -qE "ADD net=cli-net id=cli-a .*delegate bridge ADD ok \([0-9.]+ ms\)" "$T_DIR/calls.log"
check "the log has DEL's removal" grep -q "info DEL net=cli-net id=cli-b if=eth0: removed" "$T_DIR/calls.log"
calls=$(cat "$T_DIR/calls.log")
check_no_match "c, with no logFile, logged nothing there (a and b did: the checks above)" "id=cli-c " "$calls"
finish
