#include <gtest/gtest.h>

#include "nftpm/config.h"

namespace nftpm {
namespace {

using nlohmann::json;

json mesos() {
  return json::parse(R"({"name":"port-mapper-test","type":"mesos-cni-port-mapper","chain":"MESOS-TEST-PORT-MAPPER",
    "excludeDevices":["mesos-cni0","eth1"],
    "delegate":{"type":"bridge","bridge":"mesos-cni0","isGateway":true,"ipMasq":true,
                "ipam":{"type":"host-local","subnet":"192.168.0.0/16","routes":[{"dst":"0.0.0.0/0"}]}},
    "args":{"org.apache.mesos":{"network_info":{"name":"port-mapper-test","unknown":1,
      "labels":{"labels":[{"key":"a","value":"b"}]},
      "port_mappings":[{"host_port":8080,"container_port":80,"protocol":"TCP","extra":true},
                       {"host_port":5353,"container_port":53,"protocol":"udp"},
                       {"host_port":9000,"container_port":90}]}}}})");
}

ErrorCode code_of(const json& j, CniCommand cmd = CniCommand::kAdd) {
  auto c = parse_net_config(j.dump(), cmd);
  return c ? ErrorCode{0} : c.error().code;
}

TEST(NetConfig, MesosConfigWithArgs) {
  auto c = parse_net_config(mesos().dump(), CniCommand::kAdd);
  ASSERT_TRUE(c) << c.error().msg;
  EXPECT_TRUE(c->delegate_mode());
  EXPECT_EQ(c->chain, "MESOS-TEST-PORT-MAPPER");
  EXPECT_EQ(c->exclude_devices, (std::vector<std::string>{"mesos-cni0", "eth1"}));
  ASSERT_EQ(c->mappings.size(), 3u);
  EXPECT_EQ(c->mappings[0], (PortMapping{8080, 80, Protocol::kTcp, {}}));
  EXPECT_EQ(c->mappings[1].protocol, Protocol::kUdp);
  EXPECT_EQ(c->mappings[2].protocol, Protocol::kTcp);  // missing means tcp
  EXPECT_EQ(c->result_version(), "0.1.0");             // no cniVersion: the legacy era
  EXPECT_TRUE(c->snat);
}

TEST(NetConfig, NoArgsMeansNoMappings) {
  json j = mesos();
  j.erase("args");
  auto c = parse_net_config(j.dump(), CniCommand::kAdd);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->mappings.empty());
  j["args"] = json::object();
  EXPECT_TRUE(parse_net_config(j.dump(), CniCommand::kAdd)->mappings.empty());
}

TEST(NetConfig, ChainedRuntimeConfig) {
  auto c = parse_net_config(R"({"cniVersion":"1.0.0","name":"podman","type":"nft-port-mapper",
    "runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":"192.0.2.1"},
                                     {"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":""},
                                     {"hostPort":53,"containerPort":53,"protocol":"udp","hostIP":"0.0.0.0"}]}})",
                            CniCommand::kAdd);
  ASSERT_TRUE(c) << c.error().msg;
  EXPECT_FALSE(c->delegate_mode());
  EXPECT_EQ(c->chain, "cni-podman");
  ASSERT_EQ(c->mappings.size(), 3u);
  EXPECT_EQ(c->mappings[0].host_ip, "192.0.2.1");
  EXPECT_EQ(c->mappings[1].host_ip, "");
  EXPECT_EQ(c->mappings[1].host_family, AF_UNSPEC);
  EXPECT_EQ(c->mappings[2].host_ip, "");  // 0.0.0.0 means every address, of IPv4 only
  EXPECT_EQ(c->mappings[2].host_family, AF_INET);
}

// containerd's CRI (1.6, 1.7) marshals go-cni's untagged PortMapping: Go field names as keys.
// Go's encoding/json, the reference plugin's decoder, matches them without regard to case.
TEST(NetConfig, ContainerdPortMappingKeys) {
  auto c = parse_net_config(R"({"cniVersion":"1.0.0","name":"k8s-pods","type":"nft-port-mapper",
    "runtimeConfig":{"portMappings":[{"HostPort":18080,"ContainerPort":8080,"Protocol":"tcp","HostIP":""},
                                     {"HostPort":15353,"ContainerPort":5353,"Protocol":"udp","HostIP":"192.0.2.1"},
                                     {"hostport":9000,"CONTAINERPORT":90}]}})",
                            CniCommand::kAdd);
  ASSERT_TRUE(c) << c.error().msg;
  ASSERT_EQ(c->mappings.size(), 3u);
  EXPECT_EQ(c->mappings[0].host_port, 18080);
  EXPECT_EQ(c->mappings[0].container_port, 8080);
  EXPECT_EQ(c->mappings[0].protocol, Protocol::kTcp);
  EXPECT_EQ(c->mappings[0].host_ip, "");
  EXPECT_EQ(c->mappings[1].protocol, Protocol::kUdp);
  EXPECT_EQ(c->mappings[1].host_ip, "192.0.2.1");
  EXPECT_EQ(c->mappings[2].host_port, 9000);
  EXPECT_EQ(c->mappings[2].container_port, 90);

  // The exact key wins over a differently cased one; two cased ones are ambiguous, and refused.
  auto exact = parse_net_config(R"({"cniVersion":"1.0.0","name":"n","type":"t","runtimeConfig":{"portMappings":[
    {"hostPort":80,"HostPort":81,"containerPort":80}]}})",
                                CniCommand::kAdd);
  ASSERT_TRUE(exact) << exact.error().msg;
  EXPECT_EQ(exact->mappings[0].host_port, 80);
  auto ambiguous = parse_net_config(R"({"cniVersion":"1.0.0","name":"n","type":"t","runtimeConfig":{"portMappings":[
    {"HostPort":80,"HOSTPORT":81,"containerPort":80}]}})",
                                    CniCommand::kAdd);
  ASSERT_FALSE(ambiguous);
  EXPECT_EQ(ambiguous.error().code, ErrorCode::kBadPortMappings);
  EXPECT_NE(ambiguous.error().msg.find("both name \"hostPort\""), std::string::npos) << ambiguous.error().msg;
}

TEST(NetConfig, UnspecifiedHostIpsOfBothFamilies) {
  auto parse = [](const std::string& a, const std::string& b) {
    return parse_net_config(R"({"cniVersion":"1.0.0","name":"n","type":"t","runtimeConfig":{"portMappings":[
      {"hostPort":8080,"containerPort":80,"hostIP":")" +
                                a + R"("},{"hostPort":8080,"containerPort":80,"hostIP":")" + b + R"("}]}})",
                            CniCommand::kAdd);
  };
  // Docker-style 0.0.0.0:P plus [::]:P is one port for both families, not a duplicate.
  auto both = parse("0.0.0.0", "0::0");
  ASSERT_TRUE(both) << both.error().msg;
  EXPECT_EQ(both->mappings[1].host_family, AF_INET6);
  // An unbound port already covers both families: either one with it is asked twice.
  for (auto [a, b] : {std::pair{"", "0.0.0.0"}, {"::", ""}, {"::", "::"}}) {
    auto twice = parse(a, b);
    ASSERT_FALSE(twice) << a << " + " << b;
    EXPECT_EQ(twice.error().code, ErrorCode::kBadPortMappings);
    EXPECT_NE(twice.error().msg.find("requested twice"), std::string::npos) << twice.error().msg;
  }
}

TEST(NetConfig, DeferClose) {
  auto parse = [](const std::string& extra) {
    return parse_net_config(R"({"cniVersion":"1.0.0","name":"n","type":"t")" + extra + "}", CniCommand::kAdd);
  };
  EXPECT_TRUE(parse("")->defer_close);
  EXPECT_FALSE(parse(R"(,"deferClose":false)")->defer_close);
  auto bad = parse(R"(,"deferClose":"no")");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidConfig);
  EXPECT_NE(bad.error().msg.find("deferClose"), std::string::npos) << bad.error().msg;
}

TEST(NetConfig, BadPorts) {
  for (const char* bad : {"0", "65536", "-1", "1e10", "\"80\"", "80.5", "null", "18446744073709551696"}) {
    json j = mesos();
    j["args"]["org.apache.mesos"]["network_info"]["port_mappings"][0]["host_port"] = json::parse(bad);
    EXPECT_EQ(code_of(j), ErrorCode::kBadPortMappings) << bad;
  }
  json j = mesos();
  j["args"]["org.apache.mesos"]["network_info"]["port_mappings"][0]["protocol"] = "icmp";
  EXPECT_EQ(code_of(j), ErrorCode::kBadPortMappings);
  j["args"]["org.apache.mesos"]["network_info"]["port_mappings"][0]["protocol"] = 6;
  EXPECT_EQ(code_of(j), ErrorCode::kBadPortMappings);
  j = mesos();
  j["args"]["org.apache.mesos"]["network_info"]["port_mappings"][1]["host_port"] = 8080;
  j["args"]["org.apache.mesos"]["network_info"]["port_mappings"][1]["protocol"] = "tcp";
  EXPECT_EQ(code_of(j), ErrorCode::kBadPortMappings);  // the same host port twice
}

TEST(NetConfig, BadChainAndDevices) {
  for (const char* bad : {"A B", "A\"B", "A;B", "A\nB", "-A", "prerouting", "output"}) {
    json j = mesos();
    j["chain"] = bad;
    EXPECT_EQ(code_of(j), ErrorCode::kInvalidConfig) << bad;
  }
  json j = mesos();
  j["chain"] = std::string(65, 'C');
  EXPECT_EQ(code_of(j), ErrorCode::kInvalidConfig);
  j = mesos();
  j["excludeDevices"] = "mesos-cni0";
  EXPECT_EQ(code_of(j), ErrorCode::kInvalidConfig);
  j["excludeDevices"] = json::array({"0123456789abcdef"});
  EXPECT_EQ(code_of(j), ErrorCode::kInvalidConfig);
  j["excludeDevices"] = json::array({1});
  EXPECT_EQ(code_of(j), ErrorCode::kInvalidConfig);
}

TEST(NetConfig, OtherErrors) {
  EXPECT_EQ(parse_net_config("{", CniCommand::kAdd).error().code, ErrorCode::kDecodeFailure);
  EXPECT_EQ(parse_net_config("[]", CniCommand::kAdd).error().code, ErrorCode::kDecodeFailure);
  // A number too large for a double is a decode error, not an exception (found by fuzz_net_config).
  auto huge = parse_net_config(R"({"name":"n","type":"t","x":1e99999})", CniCommand::kAdd);
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code, ErrorCode::kDecodeFailure);
  EXPECT_NE(huge.error().details.find("number overflow"), std::string::npos) << huge.error().details;
  EXPECT_EQ(parse_net_config(std::string(kMaxConfigBytes + 1, ' '), CniCommand::kAdd).error().code,
            ErrorCode::kReadFailure);
  json j = mesos();
  j["cniVersion"] = "9.9.9";
  EXPECT_EQ(code_of(j), ErrorCode::kIncompatibleVersion);
  j = mesos();
  j["delegate"] = "bridge";
  EXPECT_EQ(code_of(j), ErrorCode::kInvalidConfig);
  j = mesos();
  j["delegate"].erase("type");
  EXPECT_EQ(code_of(j), ErrorCode::kInvalidConfig);
  j = mesos();
  j["name"] = 7;
  EXPECT_EQ(code_of(j), ErrorCode::kInvalidConfig);
  j = mesos();
  j["conditionsV4"] = json::array({"ip saddr 1.2.3.4"});
  EXPECT_EQ(code_of(j), ErrorCode::kUnsupportedField);
  j = mesos();
  j["snat"] = "yes";
  EXPECT_EQ(code_of(j), ErrorCode::kInvalidConfig);
}

TEST(NetConfig, GcAttachments) {
  json j = mesos();
  j["cniVersion"] = "1.1.0";
  EXPECT_EQ(code_of(j, CniCommand::kGc), ErrorCode::kInvalidConfig);  // GC needs the list
  j["cni.dev/valid-attachments"] = json::parse(R"([{"containerID":"a","ifname":"eth0"}])");
  auto c = parse_net_config(j.dump(), CniCommand::kGc);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->valid_attachments.size(), 1u);
  EXPECT_EQ(c->valid_attachments[0], (std::pair<std::string, std::string>{"a", "eth0"}));
}

}  // namespace
}  // namespace nftpm
