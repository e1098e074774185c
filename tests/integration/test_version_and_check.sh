#!/usr/bin/env bash
# VERSION, results in the requested cniVersion, CHECK passing and then failing on a missing,
# foreign-owned or re-pointed mapping, and STATUS.
source "$(dirname "$0")/harness.sh"
topology
ctr_add a
CID=abcdef01-0000-0000-0000-000000000000
echo '{"cniVersion":"1.1.0"}' > "$T_DIR/v.json"
cni VERSION "" "" "$T_DIR/v.json"
check "VERSION exits 0" [ "$T_RC" = 0 ]
check "VERSION lists 0.1.0 .. 1.1.0" [ "$(json_get '",".join(j["supportedVersions"])' <<<"$T_OUT")" = "0.1.0,0.2.0,0.3.0,0.3.1,0.4.0,1.0.0,1.1.0" ]

mesos_config "$T_DIR/conf.json" ver-net VER-PORT-MAPPER '[{"host_port":8080,"container_port":80}]' '[]' '{"cniVersion": "1.0.0"}'
cni ADD "$CID" "$(ctr_path a)" "$T_DIR/conf.json"
check "ADD with cniVersion 1.0.0 exits 0" [ "$T_RC" = 0 ]
check "the result is in the 1.0.0 form (ips[].address)" [ -n "$(json_get 'j["ips"][0]["address"]' <<<"$T_OUT")" ]
check "the result says cniVersion 1.0.0" [ "$(json_get 'j["cniVersion"]' <<<"$T_OUT")" = 1.0.0 ]
check "1.0.0 ips carry no 'version' field" [ "$(json_get '"version" in j["ips"][0]' <<<"$T_OUT")" = False ]

# CHECK gets the ADD result back as prevResult, as a runtime sends it.
python3 - "$T_DIR/conf.json" "$T_DIR/check.json" "$T_OUT" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["prevResult"] = json.loads(sys.argv[3]); json.dump(c, open(sys.argv[2], "w"))
PY
cni CHECK "$CID" "$(ctr_path a)" "$T_DIR/check.json"
check "CHECK exits 0 while everything is in place" [ "$T_RC" = 0 ]
cni CHECK "other-container" "$(ctr_path a)" "$T_DIR/check.json"
check "CHECK as another owner fails" [ "$T_RC" != 0 ]
check "... naming the owner mismatch" grep -q "another owner" <<<"$T_OUT"
nft_node delete element inet nft_port_mapper VER-PORT-MAPPER-v4 '{ tcp . 8080 }'
cni CHECK "$CID" "$(ctr_path a)" "$T_DIR/check.json"
check "CHECK fails after the element was deleted by hand" [ "$T_RC" != 0 ]
check "... with a JSON error saying it is missing" grep -q "missing" <<<"$(json_get 'j["msg"]' <<<"$T_OUT")"
nft_node add element inet nft_port_mapper VER-PORT-MAPPER-v4 "{ tcp . 8080 comment \"net=ver-net id=$CID if=eth0\" : 10.0.0.99 . 80 }"
cni CHECK "$CID" "$(ctr_path a)" "$T_DIR/check.json"
check "CHECK fails when the mapping points elsewhere" grep -q "wrong target" <<<"$T_OUT"

echo '{"cniVersion":"1.1.0","name":"ver-net","type":"nft-port-mapper"}' > "$T_DIR/status.json"
cni STATUS "" "" "$T_DIR/status.json"
check "STATUS exits 0 on this kernel" [ "$T_RC" = 0 ]
tables=$(nft_node list tables) || die "nft list tables failed"
check_match "the node's tables are listed (control: ours is there)" "^table inet nft_port_mapper\$" "$tables"
check_no_match "STATUS left no probe table behind" "probe" "$tables"
echo '{"cniVersion":"1.0.0","name":"ver-net","type":"nft-port-mapper"}' > "$T_DIR/status0.json"
cni STATUS "" "" "$T_DIR/status0.json"
check "STATUS with cniVersion 1.0.0 is refused (it is a 1.1 verb)" [ "$(json_get 'j["code"]' <<<"$T_OUT")" = 1 ]
set +e
out=$(echo '{"cniVersion":"1.1.0","name":"x","type":"nft-port-mapper"}' | env -i CNI_COMMAND=STATUS \
      ip netns exec "$NODE" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all "$NFTPM_BIN")
set -e
check "STATUS without CAP_NET_ADMIN says so in words" grep -q "not permitted" <<<"$out"
finish
