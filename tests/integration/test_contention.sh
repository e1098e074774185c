#!/usr/bin/env bash
# Contention between plugin processes. Sixteen containers ask for the same host port at the same
# moment through the real bridge delegate: exactly one wins, the others get conflict errors and
# their attachments are rolled back. Then 32 processes x 100 random ADD/DEL calls on colliding
# ports: afterwards the table holds exactly the live containers' mappings.
source "$(dirname "$0")/harness.sh"
topology
N=16
mesos_config "$T_DIR/conf.json" same-net SAME-PORT-MAPPER '[{"host_port":8080,"container_port":80}]'
for i in $(seq $N); do ctr_add "s$i"; done
pids=()
for i in $(seq $N); do
  ( cni ADD "same-$i" "$(ctr_path s$i)" "$T_DIR/conf.json"; echo "$T_RC $T_OUT" > "$T_DIR/r$i" ) &
  pids+=($!)
done
wait "${pids[@]}"   # (not a bare wait: the harness's control servers run in the background)
winners=$(grep -l '^0 ' "$T_DIR"/r* | wc -l)
conflicts=$(grep -l '"code":105' "$T_DIR"/r* | wc -l)
check "exactly one of $N simultaneous ADDs for host port 8080 wins" [ "$winners" = 1 ]
check "the other $((N - 1)) get a conflict error (105)" [ "$conflicts" = $((N - 1)) ]
unexpected=0
for f in "$T_DIR"/r*; do
  grep -qE '^0 |"code":105' "$f" || { unexpected=$((unexpected + 1)); log "unexpected outcome: $(cat "$f")"; }
done
check_eq "every ADD either won or got a conflict (no other outcome)" "$unexpected" 0
attached=0
for i in $(seq $N); do [ -n "$(ip -n "$(ctr_ns s$i)" -4 addr show dev eth0 2>/dev/null)" ] && attached=$((attached + 1)); done
check "only the winner is still attached (losers rolled back)" [ "$attached" = 1 ]
check "host-local holds one address" [ "$(ls "$T_DIR/ipam/same-net" | grep -c '^10\.')" = 1 ]
check_eq "one owner in the table" "$(owners | wc -l)" 1

# A sanitized plugin is many times slower: the same paths, fewer calls.
OPS=100; [ "${NFTPM_SANITIZED:-0}" = 1 ] && OPS=15
log "32 processes x $OPS random ADD/DEL on 20 colliding ports"
set +e
report=$(ip netns exec "$NODE" python3 "$TOOLS_DIR/stress.py" random --plugin "$NFTPM_BIN" \
         --workers 32 --ops $OPS --ports 20)
set -e
require "the stress run printed its JSON report" is_json_object "$report"
log "$report"
check "no call failed other than by conflict" [ "$(json_get 'j["error_count"]' <<<"$report")" = 0 ]
check "no owner is half there" [ "$(json_get 'len(j["partial_owners"])' <<<"$report")" = 0 ]
check "no live container lost a mapping" [ "$(json_get 'len(j["missing"])' <<<"$report")" = 0 ]
check "nothing left of containers that were removed" [ "$(json_get 'len(j["leftover"])' <<<"$report")" = 0 ]
check "and the run really collided" [ "$(json_get 'j["conflicts"] > 0' <<<"$report")" = True ]
finish
