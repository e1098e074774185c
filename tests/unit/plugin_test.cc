// The verbs end to end over the fake nftables and a recording fake delegate.
#include "nftpm/plugin.h"

#include <gtest/gtest.h>

#include <map>

#include "fake_nftables.h"
#include "nftpm/layout.h"
#include "test_values.h"

namespace nftpm {
namespace {

using nlohmann::json;

struct Call {
  std::string type, command;
  json config;
  size_t our_elements_at_call;
};

class RecordingDelegate : public DelegateRunner {
 public:
  explicit RecordingDelegate(FakeNftables& f) : f_(f) {}
  Result<std::string> run(const std::string& type, CniCommand command, const CniEnv&, const std::string& stdin_json,
                          int) override {
    size_t elems = 0;
    for (const auto& [_, t] : f_.tables)
      for (const auto& [__, set] : t.elements) elems += set.size();
    calls.push_back({type, command_name(command), json::parse(stdin_json), elems});
    if (fail) return Error(ErrorCode::kDelegateFailure, "delegate bridge ADD failed: boom");
    if (command == CniCommand::kAdd) return result;
    return std::string();
  }
  std::vector<Call> calls;
  bool fail = false;
  std::string result =
      R"({"cniVersion":"0.2.0","ip4":{"ip":"10.1.0.5/16","gateway":"10.1.0.1","routes":[{"dst":"0.0.0.0/0"}]},"dns":{}})";

 private:
  FakeNftables& f_;
};

class PluginTest : public ::testing::Test {
 protected:
  void SetUp() override { reset_test_cni_env(); }
  PluginOutput run(const std::string& verb, const json& config, const std::string& id = "c1") {
    return call_plugin(verb, config, id, nft, delegate);
  }
  size_t elements() const {
    size_t n = 0;
    for (const auto& [_, t] : nft.tables)
      for (const auto& [__, set] : t.elements) n += set.size();
    return n;
  }
  json mesos(const std::string& mappings = R"([{"host_port":8080,"container_port":80}])") const {
    return json::parse(R"({"name":"mesos-net","type":"mesos-cni-port-mapper","chain":"MESOS-PM",
      "delegate":{"type":"bridge","bridge":"mesos-cni0"},
      "args":{"org.apache.mesos":{"network_info":{"name":"mesos-net","port_mappings":)" +
                       mappings + "}}}}");
  }
  FakeNftables nft;
  RecordingDelegate delegate{nft};
};

TEST_F(PluginTest, MesosAddDelegatesThenMapsAndAnswersLegacy) {
  auto out = run("ADD", mesos());
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  ASSERT_EQ(delegate.calls.size(), 1u);
  const Call& c = delegate.calls[0];
  EXPECT_EQ(c.type, "bridge");
  EXPECT_EQ(c.command, "ADD");
  EXPECT_EQ(c.config["name"], "mesos-net");
  EXPECT_EQ(c.config["bridge"], "mesos-cni0");
  EXPECT_EQ(c.config["args"]["org.apache.mesos"]["network_info"]["port_mappings"][0]["host_port"], 8080);
  EXPECT_FALSE(c.config.contains("cniVersion"));  // never added: the delegate answers legacy
  json r = json::parse(out.stdout_text);
  EXPECT_EQ(r["ip4"]["ip"], "10.1.0.5/16");
  EXPECT_FALSE(r.contains("ips"));
  EXPECT_NE(nft.dump().find("tcp . 8080 : 10.1.0.5:80 comment \"net=mesos-net id=c1 if=eth0\""), std::string::npos);
}

TEST_F(PluginTest, ResultFollowsTheRequestedVersion) {
  json cfg = mesos();
  cfg["cniVersion"] = "1.0.0";
  auto out = run("ADD", cfg);
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  json r = json::parse(out.stdout_text);
  EXPECT_EQ(r["cniVersion"], "1.0.0");
  EXPECT_EQ(r["ips"][0]["address"], "10.1.0.5/16");
}

TEST_F(PluginTest, ConflictRollsTheDelegateBack) {
  ASSERT_EQ(run("ADD", mesos(), "c1").exit_code, 0);
  std::string before = nft.dump();
  delegate.result = R"({"cniVersion":"0.2.0","ip4":{"ip":"10.1.0.6/16"},"dns":{}})";
  auto out =
      run("ADD", mesos(R"([{"host_port":9090,"container_port":90},{"host_port":8080,"container_port":80}])"), "c2");
  EXPECT_EQ(out.exit_code, 1);
  json e = json::parse(out.stdout_text);
  EXPECT_EQ(e["code"], 105);
  EXPECT_NE(e["msg"].get<std::string>().find("c1"), std::string::npos);
  ASSERT_EQ(delegate.calls.size(), 3u);
  EXPECT_EQ(delegate.calls[2].command, "DEL");  // the attachment was undone
  EXPECT_EQ(nft.dump(), before);
}

TEST_F(PluginTest, DelegateFailureAddsNothing) {
  delegate.fail = true;
  auto out = run("ADD", mesos());
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_EQ(json::parse(out.stdout_text)["code"], 102);
  EXPECT_EQ(elements(), 0u);
}

TEST_F(PluginTest, DelRemovesMappingsBeforeTheDelegate) {
  ASSERT_EQ(run("ADD", mesos()).exit_code, 0);
  ASSERT_GT(elements(), 0u);
  auto out = run("DEL", mesos());
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_EQ(out.stdout_text, "");
  ASSERT_EQ(delegate.calls.back().command, "DEL");
  EXPECT_EQ(delegate.calls.back().our_elements_at_call, 0u);  // ours were gone before it ran
  // Again, and without args (scan): still 0.
  EXPECT_EQ(run("DEL", mesos()).exit_code, 0);
  json no_args = mesos();
  no_args.erase("args");
  EXPECT_EQ(run("DEL", no_args).exit_code, 0);
}

TEST_F(PluginTest, DelWithoutArgsScansForTheOwner) {
  ASSERT_EQ(run("ADD", mesos()).exit_code, 0);
  json no_args = mesos();
  no_args.erase("args");
  ASSERT_EQ(run("DEL", no_args).exit_code, 0);
  EXPECT_EQ(nft.dump().find("id=c1"), std::string::npos);
}

TEST_F(PluginTest, BadMappingsFailAddButNeverDel) {
  // A refused ADD is followed by the runtime's DEL with the same document; failing it would stop
  // libcni before the attaching plugin's DEL (a leaked address and veth) and wedge the sandbox.
  auto add = run("ADD", mesos(R"([{"host_port":0,"container_port":80}])"));
  EXPECT_EQ(json::parse(add.stdout_text)["code"], 101);
  EXPECT_TRUE(delegate.calls.empty());  // refused before the delegate attached anything
  auto del = run("DEL", mesos(R"([{"host_port":0,"container_port":80}])"));
  EXPECT_EQ(del.exit_code, 0) << del.stdout_text;
  ASSERT_EQ(delegate.calls.size(), 1u);
  EXPECT_EQ(delegate.calls[0].command, "DEL");
  // And it still removes, by scan, what this exact owner holds (here from an earlier good ADD).
  ASSERT_EQ(run("ADD", mesos(), "c2").exit_code, 0);
  ASSERT_EQ(run("ADD", mesos(R"([{"host_port":9090,"container_port":90}])"), "c3").exit_code, 0);
  EXPECT_EQ(
      run("DEL", mesos(R"([{"host_port":8080,"container_port":80},{"host_port":8080,"container_port":81}])"), "c2")
          .exit_code,
      0);
  std::string d = nft.dump();
  EXPECT_EQ(d.find("id=c2"), std::string::npos) << d;
  EXPECT_NE(d.find("id=c3"), std::string::npos) << d;
  // CHECK reports them, as it should.
  EXPECT_NE(run("CHECK", mesos(R"([{"host_port":0,"container_port":80}])"), "c3").exit_code, 0);
}

TEST_F(PluginTest, DelOfAnOwnerTooLongToRecordStillRunsTheDelegate) {
  std::string id(200, 'a');  // the longest container ID; with a 64-byte network name the tag exceeds 252
  json cfg = mesos();
  cfg["name"] = std::string(64, 'n');
  auto add = run("ADD", cfg, id);
  EXPECT_NE(add.exit_code, 0) << add.stdout_text;
  EXPECT_EQ(elements(), 0u);
  size_t calls = delegate.calls.size();
  auto del = run("DEL", cfg, id);
  EXPECT_EQ(del.exit_code, 0) << del.stdout_text;
  ASSERT_EQ(delegate.calls.size(), calls + 1);
  EXPECT_EQ(delegate.calls.back().command, "DEL");
}

TEST_F(PluginTest, ChainedModeUsesPrevResult) {
  json cfg = json::parse(R"({"cniVersion":"1.0.0","name":"podman","type":"nft-port-mapper",
    "runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]},
    "prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"cni0"},{"name":"eth0","sandbox":"/x"}],
                  "ips":[{"address":"10.88.0.7/16","interface":1},{"address":"fd88::7/64","interface":1}]}})");
  auto out = run("ADD", cfg);
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_EQ(json::parse(out.stdout_text)["ips"][0]["address"], "10.88.0.7/16");
  EXPECT_TRUE(delegate.calls.empty());
  std::string d = nft.dump();
  EXPECT_NE(d.find("10.88.0.7:80"), std::string::npos) << d;
  EXPECT_NE(d.find("[fd88::7]:80"), std::string::npos) << d;
  cfg.erase("prevResult");
  auto missing = run("ADD", cfg, "c2");
  EXPECT_EQ(json::parse(missing.stdout_text)["code"], 7);
}

TEST_F(PluginTest, VersionAndUnknownVerbs) {
  auto v = run("VERSION", json::object());
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(json::parse(v.stdout_text)["supportedVersions"].size(), 7u);
  auto bad = run("FROB", mesos());
  EXPECT_EQ(json::parse(bad.stdout_text)["code"], 104);
}

TEST_F(PluginTest, StatusAndGcAreCni11Verbs) {
  json cfg = json::parse(R"({"cniVersion":"1.1.0","name":"podman","type":"nft-port-mapper"})");
  EXPECT_EQ(run("STATUS", cfg).exit_code, 0);
  cfg["cniVersion"] = "1.0.0";
  EXPECT_EQ(json::parse(run("STATUS", cfg).stdout_text)["code"], 1);
  cfg["cniVersion"] = "1.1.0";
  cfg["cni.dev/valid-attachments"] = json::array();
  EXPECT_EQ(run("GC", cfg).exit_code, 0);
}

}  // namespace
}  // namespace nftpm
