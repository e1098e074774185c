#!/usr/bin/env bash
# Bad input of every kind, table-driven. Each case runs ADD in the node as the Mesos agent would
# and must give: a non-zero exit, stdout = one JSON object with the documented numeric `code`
# (README, "Error codes") and a non-empty `msg`, the node's whole ruleset byte-identical before/after,
# and nothing of the attachment left (no eth0 in the container, no new bridge port, no address
# held by host-local). A healthy mapping of another container is in place all along.
# Broken third-party delegates are stood in for by small scripts in a temp dir put on CNI_PATH.
source "$(dirname "$0")/harness.sh"
topology
ctr_add a
ctr_add victim
NET="it-bad-$$"
CHAIN="BAD-IT-PORT-MAPPER"
GOOD="$T_DIR/good.json"
CASE="$T_DIR/case.json"
CID=aaaa0000-1111-4222-8333-444444444444
VICTIM=99999999-0000-4000-8000-000000000000
mesos_config "$GOOD" "$NET" "$CHAIN" \
  '[{"host_port":8080,"container_port":80,"protocol":"tcp"}]'
# The victim holds 9090; every bad case asks for 8080 (free), so only the bad input can fail it.
mesos_config "$T_DIR/victim.json" "$NET" "$CHAIN" \
  '[{"host_port":9090,"container_port":80,"protocol":"tcp"}]'
cni ADD "$VICTIM" "$(ctr_path victim)" "$T_DIR/victim.json"
require "setup: the victim's ADD exits 0" [ "$T_RC" = 0 ]
serve_tcp "$(ctr_ns victim)" 80 hello-victim
VICTIM_ELEMS=$(owned_elements "$(tag_of "$NET" "$VICTIM" eth0)")
require "setup: the victim owns elements (control for the counts below)" [ -n "$VICTIM_ELEMS" ]

# Stand-ins for broken delegates.
FAKE="$T_DIR/fake-cni"
mkdir -p "$FAKE/sub"
printf '#!/bin/sh\necho "{}"\n' >"$FAKE/noexec"                 # mode 0644: not executable
chmod 0644 "$FAKE/noexec"
cat >"$FAKE/failing" <<'SH'
#!/bin/sh
cat >/dev/null
echo '{"cniVersion":"0.2.0","code":11,"msg":"bridge exploded","details":"fake delegate"}'
exit 1
SH
cat >"$FAKE/garbage" <<'SH'
#!/bin/sh
cat >/dev/null
echo 'this is { not json'
SH
# Attaches for real (the real bridge), then answers garbage / a result without an IP: the plugin
# must treat the ADD as failed and run the delegate's DEL, which detaches for real.
for kind in garbage-attach noip-attach; do
  cat >"$FAKE/$kind" <<SH
#!/bin/sh
conf=\$(cat)
if [ "\$CNI_COMMAND" = ADD ]; then
  printf '%s' "\$conf" | /usr/lib/cni/bridge >/dev/null || exit 1
  $( [ $kind = garbage-attach ] && echo "echo 'garbage after attaching'" || echo "echo '{\"cniVersion\":\"0.2.0\",\"dns\":{}}'" )
  exit 0
fi
printf '%s' "\$conf" | exec /usr/lib/cni/bridge
SH
done
cat >"$FAKE/hang" <<'SH'
#!/bin/sh
exec sleep 60
SH
cat >"$FAKE/evil" <<SH
#!/bin/sh
touch "$T_DIR/evil-ran"
cat >/dev/null
echo '{"cniVersion":"0.2.0","ip4":{"ip":"10.77.16.200/24"}}'
SH
chmod 0755 "$FAKE/failing" "$FAKE/garbage" "$FAKE/garbage-attach" "$FAKE/noip-attach" "$FAKE/hang" "$FAKE/evil"

# mutate 'PYTHON': writes $CASE from the good config; `c` is the config, `pm` its port mappings.
mutate() {
  python3 - "$GOOD" "$CASE" "$1" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
pm = c["args"]["org.apache.mesos"]["network_info"]["port_mappings"]
exec(sys.argv[3])
json.dump(c, open(sys.argv[2], "w"))
PY
}
ip_files() { ls "$IPAM_DIR/$NET" 2>/dev/null | grep -E '^[0-9.]+$' | sort || true; }
bridge_ports() { ip -n "$NODE" -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | sort; }
require "setup: the victim's veth is on the bridge (control for the bridge-port comparisons)" [ -n "$(bridge_ports)" ]
require "setup: host-local holds the victim's address (control for the address comparisons)" [ -n "$(ip_files)" ]

# expect CODES WHAT [-u VAR | VAR=VALUE]...: ADD with $CASE on stdin; CODES = "7" or "7|102".
expect() {
  local codes=$1 what=$2; shift 2
  local envs=("CNI_COMMAND=ADD" "CNI_CONTAINERID=$CID" "CNI_NETNS=/var/run/netns/$(ctr_ns a)"
              "CNI_IFNAME=eth0" "CNI_PATH=$CNI_BIN" "PATH=$SYS_PATH")
  local keep e
  while (($#)); do
    if [[ $1 == -u ]]; then
      keep=(); for e in "${envs[@]}"; do [[ $e == "$2="* ]] || keep+=("$e"); done; envs=("${keep[@]}"); shift 2
    else
      keep=(); for e in "${envs[@]}"; do [[ $e == "${1%%=*}="* ]] || keep+=("$e"); done; envs=("${keep[@]}" "$1"); shift
    fi
  done
  local rs_before ports_before ips_before
  rs_before=$(ruleset); ports_before=$(bridge_ports); ips_before=$(ip_files)
  local t0=$SECONDS
  cni_exec "$CASE" "${envs[@]}"
  local took=$((SECONDS - t0))
  local problems=() code msg
  code=$(jget '.code // "none"' "$T_OUT")
  msg=$(jget '.msg // ""' "$T_OUT")
  [[ $T_RC != 0 ]] || problems+=("exit status 0")
  is_json_object "$T_OUT" || problems+=("stdout is not one JSON object")
  [[ $code =~ ^($codes)$ ]] || problems+=("code '$code', want $codes")
  [[ -n $msg ]] || problems+=("empty msg")
  [[ $(ruleset) == "$rs_before" ]] || problems+=("ruleset CHANGED")
  link_absent "$(ctr_ns a)" eth0 || problems+=("eth0 left in the container")
  [[ $(bridge_ports) == "$ports_before" ]] || problems+=("a veth was left on the bridge")
  [[ $(ip_files) == "$ips_before" ]] || problems+=("host-local still holds an address")
  ((took < 30)) || problems+=("took ${took}s")
  if ((${#problems[@]} == 0)); then
    ok "$what -> exit $T_RC, code $code ($(head -c 110 <<<"$msg"))"
  else
    bad "$what: $(IFS=';'; echo "${problems[*]}")"
    echo "      stdout: $(head -c 400 <<<"$T_OUT")"
    echo "      stderr: $(tail -c 300 <<<"$T_ERR")"
    # Leave a clean container for the next case.
    ip -n "$(ctr_ns a)" link del eth0 2>/dev/null || true
  fi
}

log "stdin and config"
printf '{"name": "%s", "type": ' "$NET" >"$CASE";            expect 6 "malformed JSON (truncated object)"
printf '' >"$CASE";                                          expect 6 "empty stdin"
printf '[1,2,3]' >"$CASE";                                   expect 6 "JSON that is not an object"
printf '{"name":"x","type":"y"} trailing' >"$CASE";          expect 6 "JSON followed by garbage"
printf '{"name":"%s","type":"nft-port-mapper","x":1e99999}' "$NET" >"$CASE"; expect 6 "a number too large for a double"
mutate 'c["pad"] = "x" * (1024 * 1024 + 16)';                expect 100 "config over 1 MiB on stdin"
mutate 'c["name"] = 42';                                     expect 7 "name of the wrong type (number)"
mutate 'del c["name"]';                                      expect 7 "name missing"
mutate 'c["name"] = "bad net"';                              expect 7 "name with a space"
mutate 'c["cniVersion"] = "9.9.9"';                          expect 1 "unknown cniVersion"
mutate 'c["chain"] = "A B"';                                 expect 7 "chain with a space"
mutate 'c["chain"] = "A\"B"';                                expect 7 "chain with a double quote"
mutate "c['chain'] = \"A'B\"";                               expect 7 "chain with a single quote"
mutate 'c["chain"] = "A;flush ruleset"';                     expect 7 "chain with ;"
mutate 'c["chain"] = "A\nB"';                                expect 7 "chain with a newline"
mutate 'c["chain"] = "C" * 65';                              expect 7 "chain of 65 characters"
mutate 'c["chain"] = 5';                                     expect 7 "chain of the wrong type"
mutate 'c["excludeDevices"] = "mesos-cni0"';                 expect 7 "excludeDevices not an array"
mutate 'c["excludeDevices"] = ["way-too-long-devname"]';     expect 7 "excludeDevices entry over 15 bytes"
mutate 'c["delegate"] = "bridge"';                           expect 7 "delegate not an object"
mutate 'del c["delegate"]["type"]';                          expect 7 "delegate without type"

log "port mappings"
mutate 'pm[0]["host_port"] = 0';                             expect 101 "host port 0"
mutate 'pm[0]["host_port"] = 65536';                         expect 101 "host port 65536"
mutate 'pm[0]["host_port"] = -1';                            expect 101 "host port -1"
mutate 'pm[0]["host_port"] = "80"';                          expect 101 "host port \"80\" as a string"
mutate 'pm[0]["host_port"] = 2**64 + 8080';                  expect 101 "host port overflowing 64 bits"
mutate 'pm[0]["container_port"] = 0';                        expect 101 "container port 0"
mutate 'pm[0]["container_port"] = 80.5';                     expect 101 "container port 80.5"
mutate 'pm[0]["container_port"] = None';                     expect 101 "container port null"
mutate 'pm[0]["protocol"] = "icmp"';                         expect 101 "protocol icmp"
mutate 'pm[0]["protocol"] = 6';                              expect 101 "protocol as a number"
mutate 'pm.append(dict(pm[0]))';                             expect 101 "the same host port twice"
mutate 'c["args"]["org.apache.mesos"]["network_info"]["port_mappings"] = {"a": 1}'; expect 101 "port_mappings not an array"
mutate 'pm.append({"host_port":8081,"container_port":81,"protocol":"tcp"}); pm.append({"host_port":99999,"container_port":1})'
expect 101 "a bad mapping after two good ones (nothing partial)"

log "environment"
mutate 'pass'
expect 4 "CNI_COMMAND missing" -u CNI_COMMAND
expect 104 "CNI_COMMAND=FOO" CNI_COMMAND=FOO
expect 4 "CNI_CONTAINERID missing" -u CNI_CONTAINERID
expect 4 "CNI_CONTAINERID empty" CNI_CONTAINERID=
expect 4 "CNI_CONTAINERID with a space" "CNI_CONTAINERID=a b"
expect 4 "CNI_CONTAINERID with a double quote" 'CNI_CONTAINERID=a"b'
expect 4 "CNI_CONTAINERID with a single quote" "CNI_CONTAINERID=a'b"
expect 4 "CNI_CONTAINERID with ;" "CNI_CONTAINERID=a;nft flush ruleset"
expect 4 "CNI_CONTAINERID with a newline" "CNI_CONTAINERID=$(printf 'a\nb')"
expect 4 "CNI_NETNS missing on ADD" -u CNI_NETNS
expect 4 "CNI_IFNAME missing" -u CNI_IFNAME
expect 4 "CNI_PATH missing" -u CNI_PATH

log "delegates"
mutate 'c["delegate"]["type"] = "no-such-plugin"';           expect 102 "delegate type not on CNI_PATH"
mutate 'c["delegate"]["type"] = "noexec"';                   expect 102 "delegate not executable" "CNI_PATH=$FAKE:$CNI_BIN"
mutate 'c["delegate"]["type"] = "failing"';                  expect 102 "delegate exiting 1 with an error JSON" "CNI_PATH=$FAKE:$CNI_BIN"
mutate 'c["delegate"]["type"] = "garbage"';                  expect 102 "delegate printing garbage" "CNI_PATH=$FAKE:$CNI_BIN"
mutate 'c["delegate"]["type"] = "garbage-attach"';           expect 102 "delegate attaching, then printing garbage (DEL must undo it)" "CNI_PATH=$FAKE:$CNI_BIN"
mutate 'c["delegate"]["type"] = "noip-attach"';              expect 102 "delegate attaching, then answering without an IP (DEL must undo it)" "CNI_PATH=$FAKE:$CNI_BIN"
mutate 'c["delegate"]["type"] = "hang"; c["delegateTimeout"] = 2'; expect 102 "delegate hanging past delegateTimeout=2" "CNI_PATH=$FAKE:$CNI_BIN"
mutate 'c["delegate"]["type"] = "../evil"';                  expect '7|102' "delegate type '../evil' (outside CNI_PATH)" "CNI_PATH=$FAKE/sub"
check "... and ../evil was never run" test ! -e "$T_DIR/evil-ran"
mutate "c['delegate']['type'] = '$FAKE/evil'";               expect '7|102' "delegate type as an absolute path" "CNI_PATH=$FAKE/sub"
check "... and the absolute path was never run" test ! -e "$T_DIR/evil-ran"
mutate 'c["delegate"]["type"] = "sub/../evil"';              expect '7|102' "delegate type with a '/' inside" "CNI_PATH=$FAKE"
check "... and sub/../evil was never run" test ! -e "$T_DIR/evil-ran"

log "more hostile input"
expect 4 "CNI_NETNS as a relative path" "CNI_NETNS=var/run/netns/x"
expect 4 "CNI_IFNAME of 16 characters" "CNI_IFNAME=abcdefghijklmnop"
mutate 'c["delegate"]["type"] = "."';                       expect 102 "delegate type ."
mutate 'c["delegate"]["type"] = ".."';                      expect 102 "delegate type .."
mutate 'c["cniVersion"] = 1';                                expect 7 "cniVersion of the wrong type"
mutate 'c["logFile"] = "relative.log"';                      expect 7 "logFile not absolute"
mutate 'c["logLevel"] = "loud"';                             expect 7 "logLevel unknown"
mutate 'c["delegateTimeout"] = 0';                           expect 7 "delegateTimeout 0"
mutate 'c["snat"] = "yes"';                                  expect 7 "snat not a boolean"
mutate 'c["deferClose"] = 0';                                expect 7 "deferClose not a boolean"
mutate 'c["chain"] = "A\u0000B"';                           expect 7 "chain with a NUL character"
mutate 'pm[0]["protocol"] = "tcp\u0000"';                   expect 101 "protocol with a NUL character"
printf '{"name":"bad",\0"type":"x"}' >"$CASE";              expect 6 "a raw NUL byte in stdin"
mutate 'pm[0]["host_port"] = 2**32 + 8080';                  expect 101 "host port overflowing 32 bits"
mutate 'pm[0]["host_port"] = -2**63';                        expect 101 "host port of -2^63"
mutate 'pm[0]["host_port"] = 2**64 + 8080';                  expect 101 "host port overflowing 64 bits"
mutate 'pm.extend({"host_port": 20000 + i, "container_port": 80} for i in range(9000))'
expect 101 "a huge port list (9001 mappings)"
mutate 'c["args"] = json.loads("[" * 500 + "]" * 500)'
expect 101 "args nested 500 deep"
python3 -c 'print("[" * 200000 + "]" * 200000)' >"$CASE"; expect 6 "stdin nested 200,000 deep"
# Chained mode: runtimeConfig and prevResult.
cat >"$T_DIR/chained.json" <<JSON
{"cniVersion":"1.0.0","name":"$NET-ch","type":"nft-port-mapper",
 "runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]},
 "prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/x"}],"ips":[{"address":"10.1.0.5/16","interface":0}]}}
JSON
cmutate() {
  python3 - "$T_DIR/chained.json" "$CASE" "$1" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); rc = c["runtimeConfig"]; pr = c["prevResult"]
exec(sys.argv[3])
json.dump(c, open(sys.argv[2], "w"))
PY
}
cmutate 'c["runtimeConfig"] = []';                           expect 7 "runtimeConfig not an object"
cmutate 'rc["portMappings"] = {}';                           expect 101 "runtimeConfig.portMappings not an array"
cmutate 'rc["portMappings"][0]["hostPort"] = "8080"';        expect 101 "hostPort as a string"
cmutate 'rc["portMappings"][0]["containerPort"] = 0';        expect 101 "containerPort 0"
cmutate 'rc["portMappings"][0]["hostIP"] = "10.0.0.300"';    expect 101 "hostIP that is not an address"
cmutate 'rc["portMappings"][0]["hostIP"] = 42';              expect 101 "hostIP as a number"
cmutate 'rc["portMappings"][0]["hostIP"] = "::1"';           expect 101 "hostIP ::1 (IPv6 cannot route loopback to a container)"
cmutate 'rc["portMappings"].append(dict(rc["portMappings"][0], containerPort=81))'; expect 101 "the same hostPort twice"
cmutate 'c["prevResult"] = "x"';                             expect 7 "prevResult not an object"
cmutate 'pr["ips"] = {}';                                    expect 7 "prevResult.ips not an array"
cmutate 'pr["ips"][0]["address"] = "not-an-ip"';             expect 7 "prevResult address that is not a CIDR"
cmutate 'pr["ips"][0]["interface"] = 5';                     expect 7 "prevResult interface index out of range"
cmutate 'pr["interfaces"][0]["name"] = "eth9"';              expect 7 "prevResult with no address on CNI_IFNAME"
cmutate 'del c["prevResult"]';                               expect 7 "chained ADD without prevResult"
cmutate 'c["conditionsV6"] = ["ip6 saddr ::1"]';             expect 2 "conditionsV6 (not supported)"

log "the victim was never disturbed"
check_eq "the victim's elements are unchanged" "$(owned_elements "$(tag_of "$NET" "$VICTIM" eth0)")" "$VICTIM_ELEMS"
check_eq "the victim is reachable on 9090" "$(tcp_get "$REMOTE" "$NODE_IP" 9090)" hello-victim
check_eq "no element of the failed container exists" "$(owned_count "$(tag_of "$NET" "$CID" eth0)")" 0
mutate 'pass'
cni ADD "$CID" "$(ctr_path a)" "$CASE"
check_rc "finally, the good config for the same container ADDs fine" 0
finish
