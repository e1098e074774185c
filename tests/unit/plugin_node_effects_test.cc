// What the verbs ask of the node besides nftables, through a recording NodeEffects: the conntrack
// sweeps after ADD (datagram protocols only), DEL and GC, and route_localnet for localhost:hostPort.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <tuple>

#include "fake_nftables.h"
#include "fake_node_effects.h"
#include "nftpm/plugin.h"
#include "test_values.h"

namespace nftpm {
namespace {

using nlohmann::json;

// A delegate that attaches 10.1.0.5 (and detaches) without running anything.
class AttachingDelegate : public DelegateRunner {
 public:
  Result<std::string> run(const std::string&, CniCommand command, const CniEnv&, const std::string&, int) override {
    if (command == CniCommand::kAdd) return std::string(R"({"cniVersion":"0.2.0","ip4":{"ip":"10.1.0.5/16"}})");
    return std::string();
  }
};

// A sweep as a comparable value: protocol, host port, mode and each target as "family addr port".
using SweepView = std::tuple<int, int, ConntrackSweep::Mode, std::set<std::string>>;
SweepView view(const ConntrackSweep& s) {
  std::set<std::string> targets;
  for (const auto& t : s.targets) {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(t.family, &t.addr, buf, sizeof buf);
    targets.insert(std::string(t.family == AF_INET ? "4 " : "6 ") + buf + " " + std::to_string(t.port));
  }
  return {s.proto, s.host_port, s.mode, targets};
}
std::multiset<SweepView> views(const std::vector<ConntrackSweep>& sweeps) {
  std::multiset<SweepView> out;
  for (const auto& s : sweeps) out.insert(view(s));
  return out;
}

constexpr auto kAfterAdd = ConntrackSweep::Mode::kAfterAdd;
constexpr auto kAfterDelete = ConntrackSweep::Mode::kAfterDelete;

class PluginNodeEffectsTest : public ::testing::Test {
 protected:
  void SetUp() override { reset_test_cni_env(); }
  PluginOutput run(const std::string& verb, const json& config, const std::string& id = "c1") {
    return call_plugin(verb, config, id, nft, delegate, effects);
  }
  // Chained after bridge: the container at 10.88.0.7 and fd88::7 (either may be left out).
  static json chained(const json& mappings, const std::string& ip4 = "10.88.0.7", const std::string& ip6 = "fd88::7") {
    json ips = json::array();
    if (!ip4.empty()) ips.push_back({{"address", ip4 + "/16"}, {"interface", 1}});
    if (!ip6.empty()) ips.push_back({{"address", ip6 + "/64"}, {"interface", 1}});
    return {{"cniVersion", "1.0.0"},
            {"name", "podman"},
            {"type", "nft-port-mapper"},
            {"runtimeConfig", {{"portMappings", mappings}}},
            {"prevResult",
             {{"cniVersion", "1.0.0"},
              {"interfaces", json::parse(R"([{"name":"cni0"},{"name":"eth0","sandbox":"/x"}])")},
              {"ips", ips}}}};
  }
  FakeNftables nft;
  AttachingDelegate delegate;
  FakeNodeEffects effects;
};

const json kMixed = json::parse(R"([{"hostPort":8080,"containerPort":80,"protocol":"tcp"},
                                    {"hostPort":5353,"containerPort":53,"protocol":"udp"},
                                    {"hostPort":3868,"containerPort":3869,"protocol":"sctp"}])");
const json kTcp = json::parse(R"([{"hostPort":8080,"containerPort":80,"protocol":"tcp"},
                                  {"hostPort":8443,"containerPort":443,"protocol":"tcp"}])");

TEST_F(PluginNodeEffectsTest, AddSweepsEachDatagramHostPortForBothAddresses) {
  auto out = run("ADD", chained(kMixed));
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  std::multiset<SweepView> want = {
      {17, 5353, kAfterAdd, {"4 10.88.0.7 53", "6 fd88::7 53"}},
      {132, 3868, kAfterAdd, {"4 10.88.0.7 3869", "6 fd88::7 3869"}},
  };
  EXPECT_EQ(views(effects.sweeps()), want);
}

TEST_F(PluginNodeEffectsTest, TcpOnlyAddSweepsNothing) {
  ASSERT_EQ(run("ADD", chained(kTcp)).exit_code, 0);
  EXPECT_TRUE(effects.sweeps().empty());
}

TEST_F(PluginNodeEffectsTest, DelegateAddSweepsTheDelegatesAddress) {
  json cfg = json::parse(R"({"name":"mesos-net","type":"mesos-cni-port-mapper","chain":"MESOS-PM",
      "delegate":{"type":"bridge","bridge":"mesos-cni0"},
      "args":{"org.apache.mesos":{"network_info":{"name":"mesos-net","port_mappings":[
        {"host_port":8080,"container_port":80},{"host_port":5000,"container_port":5001,"protocol":"udp"}]}}}})");
  auto out = run("ADD", cfg);
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  std::multiset<SweepView> want = {{17, 5000, kAfterAdd, {"4 10.1.0.5 5001"}}};
  EXPECT_EQ(views(effects.sweeps()), want);
  ASSERT_EQ(effects.localhost.size(), 1u);
  EXPECT_EQ(effects.localhost[0].s_addr, v4("10.1.0.5").s_addr);
}

TEST_F(PluginNodeEffectsTest, DelSweepsTheFlowsToWhatItRemoved) {
  ASSERT_EQ(run("ADD", chained(kMixed)).exit_code, 0);
  effects.sweep_requests.clear();
  auto out = run("DEL", chained(kMixed));
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  // One sweep per removed map element of a datagram protocol: each family's element has its target.
  std::multiset<SweepView> want = {
      {17, 5353, kAfterDelete, {"4 10.88.0.7 53"}},
      {17, 5353, kAfterDelete, {"6 fd88::7 53"}},
      {132, 3868, kAfterDelete, {"4 10.88.0.7 3869"}},
      {132, 3868, kAfterDelete, {"6 fd88::7 3869"}},
  };
  EXPECT_EQ(views(effects.sweeps()), want);
  // Nothing left to remove: nothing to sweep.
  effects.sweep_requests.clear();
  ASSERT_EQ(run("DEL", chained(kMixed)).exit_code, 0);
  EXPECT_TRUE(effects.sweeps().empty());
}

TEST_F(PluginNodeEffectsTest, GcSweepsOnlyTheCollectedAttachments) {
  json udp1 = json::parse(R"([{"hostPort":5353,"containerPort":53,"protocol":"udp"}])");
  json udp2 = json::parse(R"([{"hostPort":6000,"containerPort":60,"protocol":"udp"}])");
  ASSERT_EQ(run("ADD", chained(udp1, "10.88.0.7", ""), "c1").exit_code, 0);
  ASSERT_EQ(run("ADD", chained(udp2, "10.88.0.8", ""), "c2").exit_code, 0);
  effects.sweep_requests.clear();
  json gc = {{"cniVersion", "1.1.0"},
             {"name", "podman"},
             {"type", "nft-port-mapper"},
             {"cni.dev/valid-attachments", {{{"containerID", "c2"}, {"ifname", "eth0"}}}}};
  auto out = run("GC", gc);
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  std::multiset<SweepView> want = {{17, 5353, kAfterDelete, {"4 10.88.0.7 53"}}};
  EXPECT_EQ(views(effects.sweeps()), want);
}

TEST_F(PluginNodeEffectsTest, AddWithSnatMakesLocalhostRoutableToTheContainer) {
  ASSERT_EQ(run("ADD", chained(kTcp)).exit_code, 0);
  ASSERT_EQ(effects.localhost.size(), 1u);
  EXPECT_EQ(effects.localhost[0].s_addr, v4("10.88.0.7").s_addr);
}

TEST_F(PluginNodeEffectsTest, NoLocalhostWithoutSnatOrWithoutIpv4) {
  json cfg = chained(kTcp);
  cfg["snat"] = false;
  ASSERT_EQ(run("ADD", cfg, "c1").exit_code, 0);
  EXPECT_TRUE(effects.localhost.empty());
  ASSERT_EQ(
      run("ADD", chained(json::parse(R"([{"hostPort":9000,"containerPort":90}])"), "", "fd88::9"), "c2").exit_code, 0);
  EXPECT_TRUE(effects.localhost.empty());
}

TEST_F(PluginNodeEffectsTest, AFailedAddTouchesNothingOnTheNode) {
  ASSERT_EQ(run("ADD", chained(kMixed), "c1").exit_code, 0);
  effects = FakeNodeEffects();
  auto out = run("ADD", chained(kMixed, "10.88.0.8", ""), "c2");  // the same host ports: a conflict
  ASSERT_EQ(out.exit_code, 1) << out.stdout_text;
  EXPECT_TRUE(effects.sweeps().empty());
  EXPECT_TRUE(effects.localhost.empty());
}

}  // namespace
}  // namespace nftpm
