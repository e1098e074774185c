// The verbs with attachment records kept: run_plugin over the fake nftables and a RecordStore on
// the in-memory state directory (fake_state_fs.h), with a fixed boot and namespace.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <map>

#include "fake_nftables.h"
#include "fake_state_fs.h"
#include "nftpm/layout.h"
#include "nftpm/plugin.h"
#include "nftpm/restore.h"
#include "test_values.h"

namespace nftpm {
namespace {

using nlohmann::json;

// Chained mode has no delegate; one that is called anyway fails the test.
class NoDelegate : public DelegateRunner {
 public:
  Result<std::string> run(const std::string& type, CniCommand command, const CniEnv&, const std::string&,
                          int) override {
    ADD_FAILURE() << "delegate " << type << " called for " << command_name(command);
    return Error(ErrorCode::kDelegateFailure, "no delegate here");
  }
};

// A chained config (after bridge): the container's addresses in prevResult, mappings in
// runtimeConfig, and options that differ from the defaults, so the record shows they were read.
json chained(const json& mappings, const std::string& ip4 = "10.88.0.7", const std::string& ip6 = "fd88::7",
             const std::string& network = "podman") {
  json ips = json::array();
  if (!ip4.empty()) ips.push_back({{"address", ip4 + "/16"}, {"interface", 1}});
  if (!ip6.empty()) ips.push_back({{"address", ip6 + "/64"}, {"interface", 1}});
  json cfg = {{"cniVersion", "1.0.0"},
              {"name", network},
              {"type", "nft-port-mapper"},
              {"excludeDevices", {"podman9"}},
              {"snat", false},
              {"masqAll", true},
              {"prevResult",
               {{"cniVersion", "1.0.0"},
                {"interfaces", json::parse(R"([{"name":"cni0"},{"name":"eth0","sandbox":"/x"}])")},
                {"ips", ips}}}};
  if (!mappings.is_null()) cfg["runtimeConfig"] = {{"portMappings", mappings}};
  return cfg;
}

const json k8080 = json::parse(R"([{"hostPort":8080,"containerPort":80,"protocol":"tcp"}])");
const json kThree = json::parse(R"([{"hostPort":8080,"containerPort":80,"protocol":"tcp"},
                                    {"hostPort":5353,"containerPort":53,"protocol":"udp","hostIP":"0.0.0.0"},
                                    {"hostPort":9090,"containerPort":90,"protocol":"tcp","hostIP":"127.0.0.1"}])");

// The owner of an attachment of the test's network.
OwnerTag podman_owner(const std::string& id) {
  return owner(id, "podman");
}

class PluginRecordsTest : public ::testing::Test {
 protected:
  void SetUp() override { reset_test_cni_env(); }
  PluginOutput run(const std::string& verb, const json& config, const std::string& id = "c1") {
    RecordStoreFactory records = [this](const std::string& dir) -> Result<std::unique_ptr<RecordStore>> {
      state_dirs.push_back(dir);
      if (store_error) return *store_error;
      return std::make_unique<RecordStore>(fs, dir, kId);
    };
    auto out = call_plugin(verb, config, id, nft, delegate, no_node_effects(), records);
    // No call leaves the state directory locked.
    EXPECT_FALSE(fs.locked(kNs + "/.lock")) << verb;
    return out;
  }
  static json error_of(const PluginOutput& out) {
    EXPECT_EQ(out.exit_code, 1) << out.stdout_text;
    return json::parse(out.stdout_text);
  }
  std::string path(const std::string& id, const std::string& net = "podman") const {
    return kNs + "/" + net + "/" + id + ":eth0";
  }
  std::optional<AttachmentRecord> record(const std::string& id, const std::string& net = "podman") {
    auto text = fs.contents(path(id, net));
    if (!text) return std::nullopt;
    auto r = record_from_json(*text, kId);
    EXPECT_TRUE(r) << r.error().msg;
    if (!r) return std::nullopt;
    return *r;
  }
  bool no_record(const std::string& id, const std::string& net = "podman") const {
    return !fs.exists(path(id, net)) && !fs.exists(path(id, net) + ".deleting");
  }
  size_t elements_of(const std::string& id) const {
    std::string tag = "id=" + id + " ";
    size_t n = 0;
    for (const auto& [_, t] : nft.tables)
      for (const auto& [__, set] : t.elements)
        for (const auto& [___, e] : set) n += e.comment.find(tag) != std::string::npos;
    return n;
  }

  FakeNftables nft;
  FakeStateFs fs;
  NoDelegate delegate;
  std::optional<Error> store_error;
  std::vector<std::string> state_dirs;
};

TEST_F(PluginRecordsTest, AddRecordsTheAttachmentAsConfiguredBeforeItsMappings) {
  std::vector<bool> recorded_at_commit;
  nft.before_commit = [&](FakeNftables&) { recorded_at_commit.push_back(fs.exists(path("c1"))); };
  auto out = run("ADD", chained(kThree));
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_EQ(state_dirs, std::vector<std::string>{kStateDir});

  auto r = record("c1");
  ASSERT_TRUE(r) << fs.dump();
  EXPECT_EQ(r->owner, podman_owner("c1"));
  EXPECT_EQ(r->chain, "cni-podman");
  EXPECT_EQ(r->exclude_devices, std::vector<std::string>{"podman9"});
  EXPECT_FALSE(r->options.hairpin);
  EXPECT_TRUE(r->options.masq_all);
  ASSERT_TRUE(r->addrs.v4 && r->addrs.v6);
  char buf[INET6_ADDRSTRLEN];
  EXPECT_STREQ(inet_ntop(AF_INET, &*r->addrs.v4, buf, sizeof buf), "10.88.0.7");
  EXPECT_STREQ(inet_ntop(AF_INET6, &*r->addrs.v6, buf, sizeof buf), "fd88::7");
  EXPECT_EQ(r->mappings, (std::vector<PortMapping>{{8080, 80, Protocol::kTcp, "", AF_UNSPEC},
                                                   {5353, 53, Protocol::kUdp, "", AF_INET},
                                                   {9090, 90, Protocol::kTcp, "127.0.0.1", AF_UNSPEC}}));
  EXPECT_GT(r->created_ns, 0u);
  auto n = fs.node(path("c1"));
  ASSERT_TRUE(n);
  EXPECT_EQ(n->mode, 0600u);

  // The kernel holds what the record says, and the record was there before any commit.
  std::string d = nft.dump();
  const std::string tag = " comment \"net=podman id=c1 if=eth0\"";
  EXPECT_TRUE(has(d, "tcp . 8080 : 10.88.0.7:80" + tag));
  EXPECT_TRUE(has(d, "tcp . 8080 : [fd88::7]:80" + tag));
  EXPECT_TRUE(has(d, "udp . 5353 : 10.88.0.7:53" + tag));
  EXPECT_EQ(d.find("[fd88::7]:53"), std::string::npos) << d;
  EXPECT_TRUE(has(d, ": 10.88.0.7:90" + tag));
  EXPECT_TRUE(has(d, "\"podman9\""));
  auto problems = compare_with_kernel(nft, *r);
  ASSERT_TRUE(problems);
  EXPECT_TRUE(problems->empty()) << (*problems)[0];
  ASSERT_FALSE(recorded_at_commit.empty());
  for (bool b : recorded_at_commit) EXPECT_TRUE(b);

  // Under the shared lock, taken once.
  ASSERT_EQ(fs.lock_requests.size(), 1u);
  EXPECT_FALSE(fs.lock_requests[0].exclusive);
  EXPECT_EQ(fs.lock_requests[0].path, kNs + "/.lock");
}

TEST_F(PluginRecordsTest, AddKeepsItsRecordsInTheConfiguredStateDirectory) {
  json cfg = chained(k8080);
  cfg["stateDir"] = "/var/lib/nftpm-test/";
  ASSERT_EQ(run("ADD", cfg).exit_code, 0);
  EXPECT_EQ(state_dirs, std::vector<std::string>{"/var/lib/nftpm-test"});
  EXPECT_TRUE(fs.exists("/var/lib/nftpm-test/" + kBoot + "/netns-4242/podman/c1:eth0")) << fs.dump();
  EXPECT_FALSE(fs.exists(kStateDir));
}

TEST_F(PluginRecordsTest, AddFailsWhenTheRecordCannotBeWritten) {
  fs.fail_writes.insert(path("c1"));
  auto out = run("ADD", chained(kThree));
  json e = error_of(out);
  EXPECT_EQ(e["code"], 5);
  std::string msg = e["msg"].get<std::string>();
  EXPECT_TRUE(has(msg, "record"));
  EXPECT_TRUE(has(msg, "c1:eth0"));
  EXPECT_TRUE(no_record("c1"));
  EXPECT_EQ(nft.commits_attempted, 0);
  EXPECT_TRUE(nft.tables.empty()) << nft.dump();
}

TEST_F(PluginRecordsTest, AddFailsWhenTheStoreCannotBeOpened) {
  store_error = Error(ErrorCode::kIoFailure, "cannot read the boot id");
  json e = error_of(run("ADD", chained(k8080)));
  EXPECT_EQ(e["code"], 5);
  EXPECT_TRUE(has(e["msg"].get<std::string>(), "cannot read the boot id"));
  EXPECT_TRUE(nft.tables.empty());
}

TEST_F(PluginRecordsTest, AddRefusedByTheKernelLeavesNoRecord) {
  ASSERT_EQ(run("ADD", chained(k8080, "10.88.0.8", ""), "c2").exit_code, 0);
  std::string before = nft.dump();
  auto two = json::parse(R"([{"hostPort":9090,"containerPort":90},{"hostPort":8080,"containerPort":80}])");
  json e = error_of(run("ADD", chained(two), "c1"));
  EXPECT_EQ(e["code"], 105);
  EXPECT_TRUE(has(e["msg"].get<std::string>(), "c2"));
  EXPECT_TRUE(no_record("c1")) << fs.dump();
  EXPECT_EQ(nft.dump(), before);
  // The holder's record is untouched.
  auto r = record("c2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->mappings.size(), 1u);
}

TEST_F(PluginRecordsTest, AddRepeatedWithoutDelReplacesTheRecordAndItsMappings) {
  ASSERT_EQ(run("ADD", chained(k8080)).exit_code, 0);
  auto nine = json::parse(R"([{"hostPort":9090,"containerPort":90}])");
  ASSERT_EQ(run("ADD", chained(nine, "10.88.0.9", "")).exit_code, 0);
  auto r = record("c1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->mappings, (std::vector<PortMapping>{{9090, 90, Protocol::kTcp, "", AF_UNSPEC}}));
  std::string d = nft.dump();
  EXPECT_EQ(d.find("8080"), std::string::npos) << d;
  EXPECT_EQ(d.find("10.88.0.7"), std::string::npos) << d;
  EXPECT_TRUE(has(d, "tcp . 9090 : 10.88.0.9:90"));
}

TEST_F(PluginRecordsTest, DelRemovesWhatTheRecordNamesWhateverItsConfigSays) {
  ASSERT_EQ(run("ADD", chained(kThree)).exit_code, 0);
  ASSERT_EQ(
      run("ADD", chained(json::parse(R"([{"hostPort":7070,"containerPort":70}])"), "10.88.0.8", ""), "c2").exit_code,
      0);
  // 8080: claim and both families' map elements; 5353 (0.0.0.0): claim and IPv4 map element; 9090
  // (bound): claim and bound map element; masqall4 and masqall6.
  ASSERT_EQ(elements_of("c1"), 9u);
  std::vector<std::pair<bool, bool>> at_commit;  // (live, .deleting) when the removal commits
  nft.before_commit = [&](FakeNftables&) {
    at_commit.emplace_back(fs.exists(path("c1")), fs.exists(path("c1") + ".deleting"));
  };
  auto other = json::parse(R"([{"hostPort":6060,"containerPort":60}])");
  auto out = run("DEL", chained(other));
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_EQ(out.stdout_text, "");
  EXPECT_EQ(elements_of("c1"), 0u) << nft.dump();
  EXPECT_TRUE(no_record("c1")) << fs.dump();
  ASSERT_EQ(at_commit.size(), 1u);
  EXPECT_EQ(at_commit[0], std::make_pair(false, true));  // renamed first, unlinked last
  // The other container keeps everything.
  EXPECT_EQ(elements_of("c2"), 3u);
  EXPECT_TRUE(record("c2"));
}

TEST_F(PluginRecordsTest, DelWithoutRecordOrMappingsScansForTheOwner) {
  ASSERT_EQ(run("ADD", chained(kThree)).exit_code, 0);
  ASSERT_EQ(
      run("ADD", chained(json::parse(R"([{"hostPort":7070,"containerPort":70}])"), "10.88.0.8", ""), "c2").exit_code,
      0);
  // Made before records were kept (or the record was lost).
  fs.nodes.erase(path("c1"));
  ASSERT_GT(elements_of("c1"), 0u);
  auto out = run("DEL", chained(json()));
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_EQ(elements_of("c1"), 0u) << nft.dump();
  EXPECT_EQ(elements_of("c2"), 3u);
  EXPECT_TRUE(no_record("c1"));
}

TEST_F(PluginRecordsTest, DelFinishesAnInterruptedDel) {
  ASSERT_EQ(run("ADD", chained(kThree)).exit_code, 0);
  RecordStore store(fs, kStateDir, kId);
  ASSERT_TRUE(store.mark_deleting(podman_owner("c1")));  // a DEL killed after its first step
  auto out = run("DEL", chained(json()));
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_EQ(elements_of("c1"), 0u) << nft.dump();
  EXPECT_TRUE(no_record("c1"));
}

TEST_F(PluginRecordsTest, DelWithAnUntrustworthyRecordStillRemovesAndErasesIt) {
  ASSERT_EQ(run("ADD", chained(kThree)).exit_code, 0);
  fs.put_file(path("c1"), "{\"truncat");
  auto out = run("DEL", chained(kThree));
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_EQ(elements_of("c1"), 0u) << nft.dump();
  EXPECT_TRUE(no_record("c1")) << fs.dump();
}

// A record file with e.g. {"format":1} is a bad record like any other: DEL goes on and removes the
// mappings. (It once made RecordStore::get throw inside DEL, so every DEL of that attachment
// failed with "internal error" and libcni never reached the attaching plugin's DEL.)
TEST_F(PluginRecordsTest, DelWithARecordWhoseFormatIsNotAStringStillSucceeds) {
  ASSERT_EQ(run("ADD", chained(kThree)).exit_code, 0);
  fs.put_file(path("c1"), R"({"format":1})");
  PluginOutput out;
  EXPECT_NO_THROW(out = run("DEL", chained(kThree)));
  EXPECT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_EQ(elements_of("c1"), 0u) << nft.dump();
}

TEST_F(PluginRecordsTest, DelWithoutAStoreStillSucceedsAndRemoves) {
  ASSERT_EQ(run("ADD", chained(kThree)).exit_code, 0);
  ASSERT_EQ(
      run("ADD", chained(json::parse(R"([{"hostPort":7070,"containerPort":70}])"), "10.88.0.8", ""), "c2").exit_code,
      0);
  store_error = Error(ErrorCode::kIoFailure, "cannot tell which network namespace this is");
  auto out = run("DEL", chained(kThree));
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_EQ(out.stdout_text, "");
  EXPECT_EQ(elements_of("c1"), 0u) << nft.dump();
  // And by scan, without mappings.
  out = run("DEL", chained(json()), "c2");
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_EQ(elements_of("c2"), 0u) << nft.dump();
}

TEST_F(PluginRecordsTest, CheckAfterAFlushNamesEveryMissingMapping) {
  ASSERT_EQ(run("ADD", chained(k8080)).exit_code, 0);
  auto ok = run("CHECK", chained(k8080));
  ASSERT_EQ(ok.exit_code, 0) << ok.stdout_text;

  nft.tables.clear();  // nft flush ruleset
  json e = error_of(run("CHECK", chained(k8080)));
  EXPECT_EQ(e["code"], 103);
  std::string msg = e["msg"].get<std::string>();
  // The claim, both families' map elements, both masqAll addresses (snat is off).
  EXPECT_TRUE(has(msg, "5 recorded elements are missing or wrong"));
  EXPECT_TRUE(has(msg, "mapping tcp/8080 (ports) is missing"));
  EXPECT_TRUE(has(msg, "mapping tcp/8080 -> 10.88.0.7:80 (cni-podman-v4) is missing"));
  EXPECT_TRUE(has(msg, "mapping tcp/8080 -> [fd88::7]:80 (cni-podman-v6) is missing"));
  EXPECT_TRUE(has(msg, "address 10.88.0.7 (masqall4) is missing"));
  EXPECT_TRUE(has(msg, "address fd88::7 (masqall6) is missing"));
  EXPECT_TRUE(has(e.value("details", std::string()), "restore"));
  // CHECK changes nothing.
  EXPECT_TRUE(nft.tables.empty());
  EXPECT_TRUE(record("c1"));
}

TEST_F(PluginRecordsTest, CheckNamingAMappingTheRecordLacksFails) {
  ASSERT_EQ(run("ADD", chained(k8080)).exit_code, 0);
  auto more = json::parse(R"([{"hostPort":8080,"containerPort":80,"protocol":"tcp"},
                              {"hostPort":9090,"containerPort":90,"protocol":"udp","hostIP":"127.0.0.1"}])");
  json e = error_of(run("CHECK", chained(more)));
  EXPECT_EQ(e["code"], 103);
  std::string msg = e["msg"].get<std::string>();
  EXPECT_TRUE(has(msg, "1 recorded element is missing or wrong"));
  EXPECT_TRUE(has(msg, "mapping udp/127.0.0.1:9090 was never recorded for this attachment"));
  EXPECT_EQ(msg.find("8080"), std::string::npos) << msg;
}

TEST_F(PluginRecordsTest, GcRemovesTheRecordsOfInvalidAttachmentsOnly) {
  auto port = [](int p) { return json::array({{{"hostPort", p}, {"containerPort", 80}}}); };
  ASSERT_EQ(run("ADD", chained(port(8001), "10.88.0.1", ""), "c1").exit_code, 0);
  ASSERT_EQ(run("ADD", chained(port(8002), "10.88.0.2", ""), "c2").exit_code, 0);
  ASSERT_EQ(run("ADD", chained(port(8003), "10.88.0.3", ""), "c3").exit_code, 0);
  ASSERT_EQ(run("ADD", chained(port(8005), "10.88.0.5", ""), "c5").exit_code, 0);
  ASSERT_EQ(run("ADD", chained(port(8004), "10.89.0.4", "", "other"), "c4").exit_code, 0);
  RecordStore store(fs, kStateDir, kId);
  ASSERT_TRUE(store.mark_deleting(podman_owner("c5")));  // an interrupted DEL of a gone container

  json gc = json::parse(R"({"cniVersion":"1.1.0","name":"podman","type":"nft-port-mapper",
    "cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"},{"containerID":"c3","ifname":"eth0"}]})");
  auto out = run("GC", gc, "");
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_TRUE(no_record("c2")) << fs.dump();
  EXPECT_TRUE(no_record("c5")) << fs.dump();
  EXPECT_TRUE(record("c1"));
  EXPECT_TRUE(record("c3"));
  EXPECT_TRUE(record("c4", "other"));  // another network's
  EXPECT_EQ(elements_of("c2"), 0u) << nft.dump();
  EXPECT_EQ(elements_of("c5"), 0u) << nft.dump();
  EXPECT_GT(elements_of("c1"), 0u);
  EXPECT_GT(elements_of("c3"), 0u);
  EXPECT_GT(elements_of("c4"), 0u);
}

}  // namespace
}  // namespace nftpm
