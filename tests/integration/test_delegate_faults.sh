#!/usr/bin/env bash
# A delegate that crashes, hangs, prints garbage or floods its output: each gives a clear delegate
# error (102), nothing is left behind (no process, no mapping, no ruleset change), and the time a
# hanging delegate may take is bounded by delegateTimeout.
source "$(dirname "$0")/netns.sh"
topology
ctr_add a
FAKE=$T_DIR/fake
mkdir -p "$FAKE"
MARK="pmfault$$"
cat > "$FAKE/crashing" <<SH
#!/bin/sh
cat >/dev/null
kill -SEGV \$\$
SH
# Hangs, and leaves a child of its own holding stdout: both must be gone after the timeout.
cat > "$FAKE/hanging" <<SH
#!/bin/bash
cat >/dev/null
sh -c 'exec -a $MARK-child sleep 300' &
exec -a $MARK sleep 300
SH
cat > "$FAKE/garbage" <<'SH'
#!/bin/sh
cat >/dev/null
printf '\001\002 not json at all {{{'
SH
cat > "$FAKE/flood" <<'SH'
#!/bin/sh
cat >/dev/null
yes '{"cniVersion":"0.2.0","ip4":{"ip":"10.1.0.5/16"}}'
SH
# Answers DEL after listing the fds it was given: it must hold none of the plugin's sockets.
cat > "$FAKE/fdlister" <<SH
#!/bin/sh
cat >/dev/null
ls -l /proc/\$\$/fd > "$T_DIR/delegate-fds"
SH
chmod +x "$FAKE"/*
ln -s /usr/lib/cni/host-local "$FAKE/host-local"

run_case() {  # run_case TYPE [TIMEOUT]: sets T_OUT, T_RC, took (s)
  mesos_config "$T_DIR/$1.json" fault-net FAULT-PORT-MAPPER '[{"host_port":8080,"container_port":80}]' '[]' \
    "${2:+\"delegateTimeout\": $2,}"
  sed -i "s/\"type\": \"bridge\"/\"type\": \"$1\"/" "$T_DIR/$1.json"
  local before start
  before=$(ruleset 2>/dev/null)
  start=$(date +%s%N)
  set +e
  T_OUT=$(env -i CNI_COMMAND=ADD CNI_CONTAINERID=fault-1 CNI_NETNS="$(ctr_path a)" CNI_IFNAME=eth0 CNI_PATH="$FAKE" \
          PATH=/usr/sbin:/usr/bin:/sbin:/bin ip netns exec "$NODE" "$NFTPM_BIN" < "$T_DIR/$1.json" 2>/dev/null)
  T_RC=$?
  set -e
  took=$(( ($(date +%s%N) - start) / 1000000 ))
  check "$1: exits non-zero" [ "$T_RC" != 0 ]
  check "$1: the error code is 102" [ "$(json_get 'j["code"]' <<<"$T_OUT")" = 102 ]
  check "$1: the ruleset is unchanged" [ "$(ruleset 2>/dev/null)" = "$before" ]
  log "$1: $(json_get 'j["msg"]' <<<"$T_OUT") (${took} ms)"
}

run_case crashing
baseline=$took   # what a failing call costs here (much more under sanitizers or load)
check "crashing: the message says it was killed by a signal" grep -q "killed by signal 11" <<<"$T_OUT"
run_case garbage
check "garbage: the message says the result is not JSON" grep -q "not a JSON object" <<<"$T_OUT"
run_case flood
check "flood: the message says it printed too much" grep -q "more than 1 MiB" <<<"$T_OUT"
run_case hanging 2
check "hanging: the message names the timeout" grep -q "timed out after 2s" <<<"$T_OUT"
# The delegate would sleep 300 s: returning within 30 s of an ordinary call shows it was cut short.
check "hanging: the call was cut short, not left to hang (${took} ms)" [ "$took" -lt $((baseline + 30000)) ]
sleep 0.2
check "hanging: no process of the delegate is left (nor its child)" [ -z "$(pgrep -f "$MARK" || true)" ]

# DEL runs the delegate while its netfilter socket is open (mappings go first): the delegate gets
# stdin, stdout and stderr, none of the plugin's netlink sockets.
mesos_config "$T_DIR/fdlister.json" fault-net FAULT-PORT-MAPPER '[{"host_port":8080,"container_port":80}]' '[]'
sed -i 's/"type": "bridge"/"type": "fdlister"/' "$T_DIR/fdlister.json"
env -i CNI_COMMAND=DEL CNI_CONTAINERID=fault-1 CNI_IFNAME=eth0 CNI_PATH="$FAKE" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  ip netns exec "$NODE" "$NFTPM_BIN" < "$T_DIR/fdlister.json" >/dev/null 2>&1 || true
check "the delegate ran for DEL" [ -s "$T_DIR/delegate-fds" ]
check "... holding none of the plugin's sockets" [ "$(grep -c 'socket:' "$T_DIR/delegate-fds" || true)" = 0 ]
finish
