// The operator's command line against fakes: the ruleset (FakeNftables), the records (a
// RecordStore over FakeStateFs), other programs (FakeProcessRunner) and a /proc/sys of its own;
// what it prints and what it leaves behind.
#include "nftpm/cli.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/state_commands.h"
#include "fake_nftables.h"
#include "fake_process_runner.h"
#include "fake_state_fs.h"
#include "nftpm/layout.h"
#include "nftpm/mapping_table.h"
#include "nftpm/record_store.h"
#include "test_values.h"

namespace nftpm {
namespace {

using nlohmann::json;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp = make_temp_dir("nftpm-cli");
    ASSERT_FALSE(tmp.empty());
    ASSERT_TRUE(std::filesystem::create_directories(tmp + "/sys/net/ipv4"));
    write(tmp + "/sys/net/ipv4/ip_forward", "1\n");
  }
  void TearDown() override { std::filesystem::remove_all(tmp); }

  static void write(const std::string& path, const std::string& text) {
    std::ofstream f(path);
    f << text;
  }

  int cli(std::vector<std::string> args) {
    args.insert(args.begin(), "nft-port-mapper");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    out.str("");
    err.str("");
    CliSystem sys;
    sys.nftables = [this]() -> Result<std::unique_ptr<Nftables>> {
      return std::unique_ptr<Nftables>(new SharedFake(nft));
    };
    sys.records = [this](const std::string& dir) -> Result<std::unique_ptr<RecordStore>> {
      state_dirs.push_back(dir);
      return std::make_unique<RecordStore>(fs, dir, kId);
    };
    sys.processes = &processes;
    sys.proc_sys = tmp + "/sys";
    sys.out = &out;
    sys.err = &err;
    return run_cli(static_cast<int>(args.size()), argv.data(), sys);
  }

  // An attachment as the plugin's ADD leaves it: its mappings in the kernel and its record.
  void attach(const std::string& id, const std::string& network, const std::vector<PortMapping>& ms,
              const ContainerAddrs& addrs) {
    OwnerTag o = owner(id, network);
    std::string chain = network == "net1" ? "NET1" : "NET2";
    MappingTable t(nft, NetworkLayout{chain}, {});
    auto s = t.add(o, ms, addrs);
    ASSERT_TRUE(s) << s.error().msg;
    RecordStore store(fs, kStateDir, kId);
    auto p = store.put({o, chain, {}, MappingOptions{}, addrs, ms});
    ASSERT_TRUE(p) << p.error().msg;
  }
  std::string record_path(const std::string& id, const std::string& network) const {
    return kNs + "/" + network + "/" + id + ":eth0";
  }
  bool recorded(const std::string& id, const std::string& network) const { return fs.exists(record_path(id, network)); }
  void three_attachments() {
    attach("c1", "net1", {{8080, 80, Protocol::kTcp, {}}}, {v4("10.1.0.5"), std::nullopt});
    attach("c2", "net1", {{9090, 90, Protocol::kUdp, {}}}, {v4("10.1.0.6"), v6("fd00::6")});
    attach("c1", "net2", {{7070, 70, Protocol::kTcp, {}}}, {v4("10.2.0.5"), std::nullopt});
  }

  std::string tmp;
  FakeNftables nft;
  FakeStateFs fs;
  FakeProcessRunner processes;
  std::ostringstream out, err;
  std::vector<std::string> state_dirs;
};

// --- watch ---------------------------------------------------------------------------------

// The kernel announces a DEL's removals one element at a time: a burst naming 2,000 elements of
// one container is one look at its record, not 2,000; and an owner with a live record in the same
// burst still counts as a loss.
TEST_F(CliTest, WatchLooksAtEachOwnersRecordOnceABurst) {
  RecordStore store(fs, kStateDir, kId);
  ContainerAddrs addrs{v4("10.1.0.5"), std::nullopt};
  OwnerTag leaving = owner("leaving", "net1"), live = owner("live", "net1");
  ASSERT_TRUE(store.put({leaving, "NET1", {}, MappingOptions{}, addrs, {{8080, 80, Protocol::kTcp, {}}}}));
  ASSERT_TRUE(store.mark_deleting(leaving));
  ASSERT_TRUE(store.put({live, "NET1", {}, MappingOptions{}, addrs, {{9090, 90, Protocol::kTcp, {}}}}));
  constexpr int kInet = 1;  // NFPROTO_INET
  auto removal = [](const OwnerTag& o) {
    return RulesetEvent{RulesetEvent::Kind::kElementsRemoved, kInet, kTableName, "NET1-v4", {o.encode()}};
  };
  std::vector<RulesetEvent> burst(2000, removal(leaving));
  int looks = fs.stats + fs.reads;
  EXPECT_EQ(what_was_lost(burst, store), "");
  looks = fs.stats + fs.reads - looks;
  EXPECT_GT(looks, 0);
  EXPECT_LE(looks, 10);

  burst.push_back(removal(live));
  EXPECT_EQ(what_was_lost(burst, store), "a removal of recorded elements");
  EXPECT_EQ(what_was_lost(std::vector<RulesetEvent>{removal(live)}, store), "a removal of recorded elements");
  RulesetEvent chain{RulesetEvent::Kind::kChainRemoved, kInet, kTableName, "", {}};
  EXPECT_EQ(what_was_lost(std::vector<RulesetEvent>{chain}, store), "a removal in the table");
}

// --- list ----------------------------------------------------------------------------------

TEST_F(CliTest, ListPrintsOneRowPerMappingAndFamily) {
  three_attachments();
  ASSERT_EQ(cli({"list"}), 0) << err.str();
  std::string o = out.str();
  EXPECT_TRUE(has(o, "PROTO"));
  EXPECT_TRUE(has(o, "tcp   *:7070"));
  EXPECT_TRUE(has(o, "-> 10.2.0.5:70"));
  EXPECT_TRUE(has(o, "-> 10.1.0.5:80"));
  EXPECT_TRUE(has(o, "-> 10.1.0.6:90"));
  EXPECT_TRUE(has(o, "-> [fd00::6]:90"));
  EXPECT_TRUE(has(o, "4 mappings (one row per address family)"));
  EXPECT_EQ(o.find("MISSING"), std::string::npos) << o;
  // Sorted by host port.
  EXPECT_LT(o.find(":7070"), o.find(":8080"));
  EXPECT_LT(o.find(":8080"), o.find(":9090"));
  EXPECT_EQ(err.str(), "");
  EXPECT_EQ(state_dirs, std::vector<std::string>{kDefaultStateDir});
}

TEST_F(CliTest, ListSaysSoWhenThereAreNoMappings) {
  ASSERT_EQ(cli({"list"}), 0) << err.str();
  EXPECT_EQ(out.str(), "no mappings\n");
}

TEST_F(CliTest, ListJsonFiltersByNetworkAndContainer) {
  three_attachments();
  ASSERT_EQ(cli({"list", "--json", "--network", "net1", "--container", "c2"}), 0) << err.str();
  json rows = json::parse(out.str());
  ASSERT_EQ(rows.size(), 2u) << rows.dump(2);
  for (const auto& r : rows) {
    EXPECT_EQ(r["network"], "net1");
    EXPECT_EQ(r["containerID"], "c2");
    EXPECT_EQ(r["ifname"], "eth0");
    EXPECT_EQ(r["protocol"], "udp");
    EXPECT_EQ(r["hostPort"], 9090);
    EXPECT_EQ(r["containerPort"], 90);
    EXPECT_EQ(r["state"], "present");
    EXPECT_EQ(r["chain"], "NET1");
  }
  EXPECT_EQ(rows[0]["family"], 4);
  EXPECT_EQ(rows[0]["containerIP"], "10.1.0.6");
  EXPECT_EQ(rows[1]["family"], 6);
  EXPECT_EQ(rows[1]["containerIP"], "fd00::6");
}

TEST_F(CliTest, ListShowsRecordedMappingsTheKernelLost) {
  three_attachments();
  nft.tables.clear();  // someone's `nft flush ruleset`
  ASSERT_EQ(cli({"list", "--json", "--container", "c1"}), 0) << err.str();
  json rows = json::parse(out.str());
  ASSERT_EQ(rows.size(), 2u) << rows.dump(2);
  for (const auto& r : rows) EXPECT_EQ(r["state"], "missing");
  ASSERT_EQ(cli({"list"}), 0) << err.str();
  EXPECT_TRUE(has(out.str(), "MISSING (recorded, not in the kernel)"));
  EXPECT_TRUE(has(out.str(), "4 recorded mappings are missing from the kernel"));
}

// --- remove, gc ------------------------------------------------------------------------------

TEST_F(CliTest, RemoveTakesOneContainersMappingsAndRecordsInEveryNetwork) {
  three_attachments();
  ASSERT_EQ(cli({"remove", "--container", "c1"}), 0) << err.str();
  std::string d = nft.dump();
  EXPECT_EQ(d.find("id=c1 "), std::string::npos) << d;
  EXPECT_NE(d.find("id=c2 "), std::string::npos) << d;
  EXPECT_FALSE(recorded("c1", "net1"));
  EXPECT_FALSE(recorded("c1", "net2"));
  EXPECT_TRUE(recorded("c2", "net1"));
  EXPECT_TRUE(has(out.str(), " of 2 owners\n  net=net1 id=c1 if=eth0\n  net=net2 id=c1 if=eth0\n"));
  EXPECT_TRUE(has(out.str(), "removed 2 records\n"));
  // Under the records' exclusive lock, released since.
  ASSERT_FALSE(fs.lock_requests.empty());
  EXPECT_TRUE(fs.lock_requests.back().exclusive);
  EXPECT_FALSE(fs.locked(kNs + "/.lock"));
}

TEST_F(CliTest, RemoveCanStayInOneNetwork) {
  three_attachments();
  ASSERT_EQ(cli({"remove", "--container", "c1", "--network", "net2", "--state-dir", "/srv/state"}), 0) << err.str();
  EXPECT_EQ(state_dirs, std::vector<std::string>{"/srv/state"});
  std::string d = nft.dump();
  EXPECT_NE(d.find("net=net1 id=c1 "), std::string::npos) << d;
  EXPECT_EQ(d.find("net=net2 id=c1 "), std::string::npos) << d;
}

TEST_F(CliTest, GcKeepsTheValidAttachmentsAndOtherNetworks) {
  three_attachments();
  ASSERT_EQ(cli({"gc", "--network", "net1", "--valid", "c2:eth0"}), 0) << err.str();
  std::string d = nft.dump();
  EXPECT_EQ(d.find("net=net1 id=c1 "), std::string::npos) << d;
  EXPECT_NE(d.find("net=net1 id=c2 "), std::string::npos) << d;
  EXPECT_NE(d.find("net=net2 id=c1 "), std::string::npos) << d;
  EXPECT_FALSE(recorded("c1", "net1"));
  EXPECT_TRUE(recorded("c2", "net1"));
  EXPECT_TRUE(recorded("c1", "net2"));
  EXPECT_TRUE(has(out.str(), "removed 1 record\n"));
}

TEST_F(CliTest, GcReadsAValidFileAndRefusesBadInput) {
  three_attachments();
  write(tmp + "/valid.json", R"([{"containerID":"c1","ifname":"eth0"}])");
  ASSERT_EQ(cli({"gc", "--network", "net1", "--valid-file", tmp + "/valid.json"}), 0) << err.str();
  EXPECT_TRUE(recorded("c1", "net1"));
  EXPECT_FALSE(recorded("c2", "net1"));
  std::string before = nft.dump();
  EXPECT_EQ(cli({"gc", "--network", "net1", "--valid", "no-colon"}), 1);
  EXPECT_TRUE(has(err.str(), "--valid takes ID:IFNAME, got no-colon"));
  write(tmp + "/valid.json", R"({"containerID":"c1"})");
  EXPECT_EQ(cli({"gc", "--network", "net1", "--valid-file", tmp + "/valid.json"}), 1);
  EXPECT_TRUE(has(err.str(), "is not a JSON array"));
  EXPECT_EQ(nft.dump(), before);
  EXPECT_TRUE(recorded("c1", "net1"));
}

// --- uninstall -------------------------------------------------------------------------------

TEST_F(CliTest, UninstallIsRefusedWhileAttachmentsAreRecorded) {
  three_attachments();
  std::string before = nft.dump();
  EXPECT_EQ(cli({"uninstall"}), 1);
  EXPECT_TRUE(has(err.str(), "3 attachments are recorded in " + kNs));
  EXPECT_EQ(out.str(), "");
  EXPECT_EQ(nft.dump(), before);
  EXPECT_TRUE(recorded("c1", "net1"));
}

TEST_F(CliTest, UninstallForceRemovesTheTableAndTheRecords) {
  three_attachments();
  ASSERT_EQ(cli({"uninstall", "--force"}), 0) << err.str();
  EXPECT_EQ(out.str(), "table inet nft_port_mapper removed with its records\n");
  EXPECT_TRUE(nft.tables.empty());
  EXPECT_FALSE(recorded("c1", "net1"));
  EXPECT_FALSE(recorded("c2", "net1"));
}

TEST_F(CliTest, UninstallOfAnEmptyTable) {
  attach("c1", "net1", {{8080, 80, Protocol::kTcp, {}}}, {v4("10.1.0.5"), std::nullopt});
  ASSERT_EQ(cli({"remove", "--container", "c1"}), 0) << err.str();
  ASSERT_FALSE(nft.tables.empty());
  ASSERT_EQ(cli({"uninstall"}), 0) << err.str();
  EXPECT_EQ(out.str(), "table inet nft_port_mapper removed\n");
  EXPECT_TRUE(nft.tables.empty());
}

// --- restore ---------------------------------------------------------------------------------

// The elements of the ruleset (rules may come back in another order).
std::string elements_of(const FakeNftables& nft) {
  std::string d = nft.dump();
  auto sets = d.find("\nset ");
  return sets == std::string::npos ? "" : d.substr(sets);
}

TEST_F(CliTest, RestoreDryRunChangesNothingAndRestorePutsItBack) {
  three_attachments();
  std::string whole = elements_of(nft);
  nft.tables.clear();
  ASSERT_EQ(cli({"restore", "--dry-run"}), 0) << err.str();
  EXPECT_TRUE(has(out.str(), "would restore net=net1 id=c1 if=eth0\n"));
  EXPECT_TRUE(has(out.str(), "would restore net=net2 id=c1 if=eth0\n"));
  EXPECT_TRUE(has(out.str(), "would restore 3 attachments"));
  EXPECT_TRUE(nft.tables.empty());
  ASSERT_EQ(cli({"restore"}), 0) << err.str();
  EXPECT_TRUE(has(out.str(), "restored 3 attachments"));
  EXPECT_EQ(elements_of(nft), whole);
  ASSERT_EQ(cli({"restore"}), 0) << err.str();
  EXPECT_TRUE(has(out.str(), "nothing to restore"));
}

TEST_F(CliTest, RestoreOfOneNetwork) {
  three_attachments();
  nft.tables.clear();
  ASSERT_EQ(cli({"restore", "--network", "net2"}), 0) << err.str();
  std::string d = nft.dump();
  EXPECT_NE(d.find("net=net2 id=c1 "), std::string::npos) << d;
  EXPECT_EQ(d.find("net=net1 "), std::string::npos) << d;
}

// --- adopt ---------------------------------------------------------------------------------

TEST_F(CliTest, AdoptRecordsMappingsThatHaveNoRecord) {
  // Made by a version that kept no records: in the kernel only.
  MappingTable t(nft, NetworkLayout{"NET1"}, {});
  ASSERT_TRUE(t.add(owner("old", "net1"), {{8080, 80, Protocol::kTcp, {}}}, {v4("10.1.0.5"), std::nullopt}));
  ASSERT_EQ(cli({"adopt", "--dry-run"}), 0) << err.str();
  EXPECT_TRUE(has(out.str(), "would record net=net1 id=old if=eth0 (1 mapping)\n"));
  EXPECT_FALSE(recorded("old", "net1"));
  ASSERT_EQ(cli({"adopt"}), 0) << err.str();
  EXPECT_TRUE(has(out.str(), "recorded 1 attachment with 1 mapping in " + kNs));
  EXPECT_TRUE(recorded("old", "net1"));
  EXPECT_TRUE(fs.lock_requests.back().exclusive);
}

// --- check -----------------------------------------------------------------------------------

const char* kOldRules = R"(*nat
:PREROUTING ACCEPT [0:0]
:MESOS-PM - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j MESOS-PM
-A MESOS-PM -p tcp -m tcp --dport 8080 -m comment --comment "container_id: c9" -j DNAT --to-destination 192.168.0.5:80
COMMIT
)";

TEST_F(CliTest, CheckReportsTheKernelForwardingAndOldRules) {
  attach("c1", "net1", {{8080, 80, Protocol::kTcp, {}}}, {v4("10.1.0.5"), std::nullopt});
  processes.install("/sbin/iptables-save");
  processes.exits("/sbin/iptables-save", 0, kOldRules);
  ASSERT_EQ(cli({"check"}), 0) << out.str() << err.str();
  std::string o = out.str();
  EXPECT_TRUE(has(o, "ok    nf_tables can run the layout here"));
  EXPECT_TRUE(has(o, "ok    table inet nft_port_mapper holds 3 owned elements"));
  EXPECT_TRUE(has(o, "ok    IPv4 forwarding is on"));
  EXPECT_TRUE(has(o, "warn  mesos-cni-port-mapper's iptables chain MESOS-PM still holds 1 mappings"));
  ASSERT_EQ(processes.runs.size(), 1u);
  EXPECT_EQ(processes.runs[0].argv, (std::vector<std::string>{"/sbin/iptables-save", "-t", "nat"}));
  EXPECT_EQ(processes.runs[0].env, (std::vector<std::string>{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}));
}

TEST_F(CliTest, CheckWarnsOfForwardingOffAndNoIptables) {
  write(tmp + "/sys/net/ipv4/ip_forward", "0\n");
  ASSERT_EQ(cli({"check"}), 0) << out.str();
  EXPECT_TRUE(has(out.str(), "warn  IPv4 forwarding is off"));
  EXPECT_TRUE(has(out.str(), "ok    no iptables here"));
  EXPECT_TRUE(processes.runs.empty());
  // Looked for at the usual places only.
  EXPECT_EQ(processes.inspected, (std::vector<std::string>{"/usr/sbin/iptables-save", "/sbin/iptables-save",
                                                           "/usr/bin/iptables-save", "/bin/iptables-save"}));
}

TEST_F(CliTest, CheckValidatesAConfigAndFindsItsDelegate) {
  write(tmp + "/net.conf", R"({"name":"mesos-net","type":"mesos-cni-port-mapper","chain":"MESOS-PM",
                              "delegate":{"type":"bridge"}})");
  processes.install("/opt/cni/bin/bridge");
  ASSERT_EQ(cli({"check", "--config", tmp + "/net.conf", "--cni-path", "/usr/lib/cni:/opt/cni/bin"}), 0) << out.str();
  EXPECT_TRUE(has(out.str(), "valid (network mesos-net, chain MESOS-PM)"));
  EXPECT_TRUE(has(out.str(), "ok    delegate bridge found: /opt/cni/bin/bridge"));
  // Not on the path given: a failure, and the exit status says so.
  EXPECT_EQ(cli({"check", "--config", tmp + "/net.conf", "--cni-path", "/usr/lib/cni"}), 1);
  EXPECT_TRUE(has(out.str(), "FAIL  delegate plugin 'bridge' not found on CNI_PATH"));
  write(tmp + "/net.conf", R"({"name":"bad name","type":"x"})");
  EXPECT_EQ(cli({"check", "--config", tmp + "/net.conf"}), 1);
  EXPECT_TRUE(has(out.str(), "FAIL  " + tmp + "/net.conf: "));
}

TEST_F(CliTest, CheckFailsWhenTheKernelCannotBeReached) {
  CliSystem sys;
  std::ostringstream o, e;
  sys.nftables = []() -> Result<std::unique_ptr<Nftables>> {
    return Error(ErrorCode::kNftablesFailure, "cannot open a netfilter socket: Operation not permitted");
  };
  sys.records = [this](const std::string& dir) -> Result<std::unique_ptr<RecordStore>> {
    return std::make_unique<RecordStore>(fs, dir, kId);
  };
  sys.processes = &processes;
  sys.proc_sys = tmp + "/sys";
  sys.out = &o;
  sys.err = &e;
  std::string a0 = "nft-port-mapper", a1 = "check";
  char* argv[] = {a0.data(), a1.data(), nullptr};
  EXPECT_EQ(run_cli(2, argv, sys), 1);
  EXPECT_TRUE(has(o.str(), "FAIL  cannot open a netfilter socket: Operation not permitted"));
  std::string a2 = "list";
  char* list_argv[] = {a0.data(), a2.data(), nullptr};
  EXPECT_EQ(run_cli(2, list_argv, sys), 1);
  EXPECT_TRUE(has(e.str(), "nft-port-mapper: cannot open a netfilter socket: Operation not permitted\n"));
}

// --- migrate-from-iptables, and the parser ------------------------------------------------------

TEST_F(CliTest, MigrateMovesTheOldRulesThenRemovesThem) {
  processes.install("/usr/sbin/iptables-save");
  processes.install("/usr/sbin/iptables-restore");
  processes.exits("/usr/sbin/iptables-save", 0, kOldRules);
  ASSERT_EQ(cli({"migrate-from-iptables", "--chain", "MESOS-PM", "--network", "net1"}), 0) << err.str();
  EXPECT_NE(nft.dump().find("tcp . 8080 : 192.168.0.5:80 comment \"net=net1 id=c9 if=eth0\""), std::string::npos)
      << nft.dump();
  ASSERT_EQ(processes.runs.size(), 2u);
  EXPECT_EQ(processes.runs[1].argv, (std::vector<std::string>{"/usr/sbin/iptables-restore", "--noflush"}));
  EXPECT_TRUE(has(processes.runs[1].input, "-X MESOS-PM"));
  EXPECT_TRUE(has(out.str(), "removed the old jumps, rules and chain MESOS-PM"));
}

TEST_F(CliTest, MigrateDryRunChangesNothing) {
  processes.install("/usr/sbin/iptables-save");
  processes.exits("/usr/sbin/iptables-save", 0, kOldRules);
  ASSERT_EQ(cli({"migrate-from-iptables", "--chain", "MESOS-PM", "--network", "net1", "--dry-run"}), 0) << err.str();
  EXPECT_TRUE(has(out.str(), "dry run: then remove with iptables-restore --noflush:"));
  EXPECT_TRUE(nft.tables.empty());
  EXPECT_EQ(processes.runs.size(), 1u);
}

TEST_F(CliTest, UsageErrorsGoToTheErrorStream) {
  EXPECT_NE(cli({"frobnicate"}), 0);
  EXPECT_NE(err.str(), "");
  EXPECT_NE(cli({"remove"}), 0);
  EXPECT_TRUE(has(err.str(), "--container"));
}

}  // namespace
}  // namespace nftpm
