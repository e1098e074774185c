#!/usr/bin/env bash
# Bad input of every kind gets a CNI error on stdout (JSON with the documented code and a message
# in words), a non-zero exit, and leaves the ruleset byte for byte as it was.
source "$(dirname "$0")/netns.sh"
topology
ctr_add a
ctr_add victim
GOOD=$T_DIR/good.json
mesos_config "$GOOD" bad-net BAD-PORT-MAPPER '[{"host_port":8080,"container_port":80}]'
# A mapping already in place, which every bad call must leave alone.
cni ADD 99999999-0000-0000-0000-000000000000 "$(ctr_path victim)" "$GOOD"
[ "$T_RC" = 0 ] || { echo "setup ADD failed: $T_OUT"; exit 1; }

FAKE=$T_DIR/fake-bin                # stand-ins for broken third-party delegates
mkdir -p "$FAKE"
printf '#!/bin/sh\necho not-executable\n' > "$FAKE/noexec"
printf '#!/bin/sh\ncat >/dev/null\necho %s\nexit 1\n' "'{\"cniVersion\":\"0.2.0\",\"code\":7,\"msg\":\"bridge exploded\"}'" > "$FAKE/failing"
printf '#!/bin/sh\ncat >/dev/null\necho this is not json\n' > "$FAKE/garbage"
printf '#!/bin/sh\ncat >/dev/null\necho "{\\"cniVersion\\":\\"0.2.0\\",\\"dns\\":{}}"\n' > "$FAKE/noip"
chmod +x "$FAKE/failing" "$FAKE/garbage" "$FAKE/noip"
for f in "$CNI_BIN"/*; do ln -sf "$(readlink -f "$f")" "$FAKE/$(basename "$f")" 2>/dev/null || true; done

# mutate EXPR: writes $T_DIR/case.json from the good config with python expression applied to c.
mutate() {
  python3 - "$GOOD" "$T_DIR/case.json" "$1" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
pm = c["args"]["org.apache.mesos"]["network_info"]["port_mappings"]
exec(sys.argv[3])
json.dump(c, open(sys.argv[2], "w"))
PY
}

# expect CODE DESCRIPTION [env overrides...]: runs ADD with $T_DIR/case.json as stdin.
expect() {
  local code=$1 what=$2; shift 2
  local envs=(CNI_COMMAND=ADD CNI_CONTAINERID=aaaa0000-1111-2222-3333-444444444444 CNI_IFNAME=eth0
              CNI_NETNS="$(ctr_path a)" CNI_PATH="$CNI_BIN" PATH=/usr/sbin:/usr/bin:/sbin:/bin)
  local before after out rc
  # "-u NAME" drops a variable; NAME=value overrides one.
  while [ $# -gt 0 ]; do
    if [ "$1" = -u ]; then
      local keep=(); for e in "${envs[@]}"; do [[ $e == "$2="* ]] || keep+=("$e"); done; envs=("${keep[@]}"); shift 2
    else
      local keep=(); for e in "${envs[@]}"; do [[ $e == "${1%%=*}="* ]] || keep+=("$e"); done; envs=("${keep[@]}" "$1"); shift
    fi
  done
  before=$(ruleset 2>/dev/null)
  set +e
  out=$(env -i "${envs[@]}" ip netns exec "$NODE" "$NFTPM_BIN" < "$T_DIR/case.json" 2>/dev/null)
  rc=$?
  set -e
  after=$(ruleset 2>/dev/null)
  local got msg
  got=$(json_get 'j.get("code")' <<<"$out" 2>/dev/null || echo "not-json")
  msg=$(json_get 'j.get("msg","")' <<<"$out" 2>/dev/null || true)
  if [ "$rc" != 0 ] && [ "$got" = "$code" ] && [ -n "$msg" ] && [ "$before" = "$after" ]; then
    pass "$what -> $code ($msg)"
  else
    fail "$what: exit $rc, code $got (want $code), msg '$msg', ruleset $([ "$before" = "$after" ] && echo unchanged || echo CHANGED)"
    echo "$out" | head -c 400; echo
  fi
  if [ -n "$(ip -n "$(ctr_ns a)" link show eth0 2>/dev/null)" ]; then
    fail "$what: left an eth0 in the container"
    ip -n "$(ctr_ns a)" link del eth0 2>/dev/null || true
  fi
}

printf '{"name": "bad-net", "type": ' > "$T_DIR/case.json"
expect 6 "malformed JSON"
printf '' > "$T_DIR/case.json";                                   expect 6 "empty stdin"
printf '[1,2,3]' > "$T_DIR/case.json";                            expect 6 "JSON that is not an object"
printf '{"name":"bad-net","x":"\xff\xfe"}' > "$T_DIR/case.json";  expect 6 "invalid UTF-8"
mutate 'c["name"] = 42';                                   expect 7 "name of the wrong type"
mutate 'del c["name"]';                                    expect 7 "name missing"
mutate 'c["name"] = "bad net"';                            expect 7 "name with a space"
mutate 'pm[0]["host_port"] = 0';                           expect 101 "host port 0"
mutate 'pm[0]["host_port"] = 65536';                       expect 101 "host port 65536"
mutate 'pm[0]["host_port"] = -1';                          expect 101 "host port -1"
mutate 'pm[0]["host_port"] = 2**64 + 80';                  expect 101 "host port overflowing 64 bits"
mutate 'pm[0]["host_port"] = "80"';                        expect 101 "host port as a string"
mutate 'pm[0]["container_port"] = 80.5';                   expect 101 "container port 80.5"
mutate 'pm[0]["container_port"] = None';                   expect 101 "container port null"
mutate 'pm[0]["protocol"] = "icmp"';                       expect 101 "protocol icmp"
mutate 'pm[0]["protocol"] = 6';                            expect 101 "protocol as a number"
mutate 'pm.append(dict(pm[0]))';                           expect 101 "the same host port twice"
mutate 'c["args"]["org.apache.mesos"]["network_info"]["port_mappings"] = {"a": 1}'; expect 101 "port_mappings not an array"
mutate 'c["args"] = "x"';                                  expect 101 "args not an object"
mutate 'c["chain"] = "A B"';                               expect 7 "chain with a space"
mutate 'c["chain"] = "A\"B"';                              expect 7 "chain with a quote"
mutate 'c["chain"] = "A;reboot"';                          expect 7 "chain with ;"
mutate 'c["chain"] = "A\nB"';                              expect 7 "chain with a newline"
mutate 'c["chain"] = "C" * 65';                            expect 7 "chain of 65 characters"
mutate 'c["chain"] = "prerouting"';                        expect 7 "chain named like a base chain"
mutate 'c["excludeDevices"] = "mesos-cni0"';               expect 7 "excludeDevices not an array"
mutate 'c["excludeDevices"] = ["way-too-long-device-name"]'; expect 7 "excludeDevices name over 15 bytes"
mutate 'c["delegate"] = "bridge"';                         expect 7 "delegate not an object"
mutate 'del c["delegate"]["type"]';                        expect 7 "delegate without type"
mutate 'c["cniVersion"] = "9.9.9"';                        expect 1 "unsupported cniVersion"
mutate 'c["conditionsV4"] = ["ip saddr 1.2.3.4"]';         expect 2 "conditionsV4 (not supported)"
mutate 'c["pad"] = "x" * (1024 * 1024)';                   expect 100 "config over 1 MiB"
mutate 'pass'
expect 4 "CNI_COMMAND missing" -u CNI_COMMAND
expect 104 "CNI_COMMAND unknown" CNI_COMMAND=FOO
expect 4 "CNI_CONTAINERID missing" -u CNI_CONTAINERID
expect 4 "CNI_CONTAINERID with a space" CNI_CONTAINERID="a b"
expect 4 "CNI_CONTAINERID with a quote" CNI_CONTAINERID="a\"b"
expect 4 "CNI_CONTAINERID with ;" "CNI_CONTAINERID=a;rm -rf /"
expect 4 "CNI_CONTAINERID with a newline" "CNI_CONTAINERID=$(printf 'a\nb')"
expect 4 "CNI_NETNS missing on ADD" -u CNI_NETNS
expect 4 "CNI_IFNAME missing" -u CNI_IFNAME
expect 4 "CNI_IFNAME with a slash" CNI_IFNAME=eth/0
expect 4 "CNI_PATH missing" -u CNI_PATH
mutate 'c["delegate"]["type"] = "no-such-plugin"';         expect 102 "delegate not on CNI_PATH"
mutate 'c["delegate"]["type"] = "../bridge"';              expect 102 "delegate type reaching out of CNI_PATH"
mutate 'c["delegate"]["type"] = "/usr/lib/cni/bridge"';    expect 102 "delegate type as an absolute path"
mutate 'c["delegate"]["type"] = "noexec"';                 expect 102 "delegate not executable" CNI_PATH="$FAKE"
mutate 'c["delegate"]["type"] = "failing"';                expect 102 "delegate that fails" CNI_PATH="$FAKE"
mutate 'c["delegate"]["type"] = "garbage"';                expect 102 "delegate printing garbage" CNI_PATH="$FAKE"
mutate 'c["delegate"]["type"] = "noip"';                   expect 102 "delegate result without an IP" CNI_PATH="$FAKE"
mutate 'pass'
expect 102 "CNI_PATH that only holds a relative directory" CNI_PATH=usr/lib/cni
expect 105 "host port held by another container"
check "the victim's mapping survived all of it" [ "$(owned_count "net=bad-net id=99999999-0000-0000-0000-000000000000 if=eth0")" = 3 ]
finish
