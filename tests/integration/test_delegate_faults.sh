#!/usr/bin/env bash
# A delegate that crashes, hangs, prints garbage or floods its output: each gives a clear delegate
# error (102), nothing is left behind (no process, no mapping, no ruleset change), and the time a
# hanging delegate may take is bounded by delegateTimeout.
source "$(dirname "$0")/harness.sh"
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
    "{${2:+\"delegateTimeout\": $2}}"
  sed -i "s/\"type\": \"bridge\"/\"type\": \"$1\"/" "$T_DIR/$1.json"
  local before start
  before=$(ruleset)
  start=$(date +%s%N)
  cni_exec "$T_DIR/$1.json" CNI_COMMAND=ADD CNI_CONTAINERID=fault-1 CNI_NETNS="$(ctr_path a)" CNI_IFNAME=eth0 \
    CNI_PATH="$FAKE" PATH="$SYS_PATH"
  took=$(( ($(date +%s%N) - start) / 1000000 ))
  check "$1: exits non-zero" [ "$T_RC" != 0 ]
  check "$1: the error code is 102" [ "$(json_get 'j["code"]' <<<"$T_OUT")" = 102 ]
  check_eq "$1: the ruleset is unchanged" "$(ruleset)" "$before"
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
# procs_named PATTERN present|absent: waits up to 5 s for a process matching PATTERN to be there
# (or to be gone); a failing pgrep (status > 1) ends the test.
procs_named() {
  local rc _
  for _ in $(seq 50); do
    set +e; pgrep -f "$1" >/dev/null; rc=$?; set -e
    ((rc <= 1)) || die "pgrep failed (exit $rc)"
    [ "$2" = present ] && [ "$rc" = 0 ] && return 0
    [ "$2" = absent ] && [ "$rc" = 1 ] && return 0
    sleep 0.1
  done
  return 1
}
(exec -a "$MARK-control" sleep 60) &
ctl=$!
check "control: a process named like the delegate's is seen" procs_named "$MARK" present
kill "$ctl"; wait "$ctl" 2>/dev/null || true   # (the status of a killed process)
check "hanging: no process of the delegate is left (nor its child)" procs_named "$MARK" absent

# DEL runs the delegate while its netfilter socket is open (mappings go first): the delegate gets
# stdin, stdout and stderr, none of the plugin's netlink sockets.
mesos_config "$T_DIR/fdlister.json" fault-net FAULT-PORT-MAPPER '[{"host_port":8080,"container_port":80}]' '[]'
sed -i 's/"type": "bridge"/"type": "fdlister"/' "$T_DIR/fdlister.json"
cni_exec "$T_DIR/fdlister.json" CNI_COMMAND=DEL CNI_CONTAINERID=fault-1 CNI_IFNAME=eth0 CNI_PATH="$FAKE" PATH="$SYS_PATH"
check_rc "DEL with the fd-listing delegate exits 0" 0
check "the delegate ran for DEL" [ -s "$T_DIR/delegate-fds" ]
fds=$(cat "$T_DIR/delegate-fds")
check_match "... and listed its fds (control: stdin is there)" " 0 -> " "$fds"
check_no_match "... holding none of the plugin's sockets" "socket:" "$fds"
finish
