#!/usr/bin/env bash
# The plugin killed with SIGKILL at random points during ADD and DEL, under load (32 workers): the
# ruleset is consistent at every moment (each owner's elements wholly present or wholly absent,
# since each change is one atomic batch), and a repeated DEL cleans up after every killed call.
source "$(dirname "$0")/harness.sh"
topology
OPS=60; [ "${NFTPM_SANITIZED:-0}" = 1 ] && OPS=15   # sanitized: the same paths, fewer calls
set +e
report=$(ip netns exec "$NODE" python3 "$TOOLS_DIR/stress.py" random --plugin "$NFTPM_BIN" \
         --workers 32 --ops $OPS --ports 40 --kill-rate 0.25 --seed 7)
set -e
require "the stress run printed its JSON report" is_json_object "$report"
log "$report"
check "calls were really killed ($(json_get 'j["killed"]' <<<"$report"))" [ "$(json_get 'j["killed"] > 10' <<<"$report")" = True ]
check "no owner was ever left half there" [ "$(json_get 'len(j["partial_owners"])' <<<"$report")" = 0 ]
check "repeated DELs cleaned up: nothing left of removed containers" [ "$(json_get 'len(j["leftover"])' <<<"$report")" = 0 ]
check "no live container lost a mapping" [ "$(json_get 'len(j["missing"])' <<<"$report")" = 0 ]
check "no call failed other than by being killed or by conflict" [ "$(json_get 'j["error_count"]' <<<"$report")" = 0 ]
finish
