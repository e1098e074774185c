// Records against the kernel: restore_records, compare_with_kernel and records_from_ruleset over
// the in-memory nftables (FakeNftables) and the in-memory state directory (fake_state_fs.h).
#include "nftpm/restore.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <tuple>

#include "fake_nftables.h"
#include "fake_state_fs.h"
#include "nftpm/layout.h"
#include "nftpm/mapping_table.h"
#include "test_values.h"

namespace nftpm {
namespace {

std::string chain_of(const std::string& net) {
  return net == "net1" ? "NET1" : net == "net2" ? "NET2" : "cni-" + net;
}
size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}
std::vector<std::string> names(const std::vector<OwnerTag>& os) {
  std::vector<std::string> out;
  for (const auto& o : os) out.push_back(o.network + "/" + o.container_id);
  return out;
}

constexpr Protocol kTcp = Protocol::kTcp;
constexpr Protocol kUdp = Protocol::kUdp;

AttachmentRecord rec(const std::string& id, std::vector<PortMapping> mappings, ContainerAddrs addrs,
                     const std::string& net = "net1", std::vector<std::string> exclude = {},
                     MappingOptions options = {}) {
  AttachmentRecord r;
  r.owner = owner(id, net);
  r.chain = chain_of(net);
  r.exclude_devices = std::move(exclude);
  r.options = options;
  r.addrs = addrs;
  r.mappings = std::move(mappings);
  return r;
}

// What MappingTable::add (a plugin ADD) installs for `r`.
void install(FakeNftables& nft, const AttachmentRecord& r) {
  MappingTable t(nft, NetworkLayout{r.chain}, r.exclude_devices, r.options);
  auto s = t.add(r.owner, r.mappings, r.addrs);
  ASSERT_TRUE(s) << s.error().msg;
}

// The element lines of one set in a FakeNftables dump.
std::string set_lines(const FakeNftables& nft, const std::string& set) {
  std::string d = nft.dump(), out;
  size_t p = d.find("set " + set + "\n");
  if (p == std::string::npos) return out;
  p += set.size() + 5;
  while (p < d.size() && d.compare(p, 2, "  ") == 0) {
    size_t end = d.find('\n', p);
    out += d.substr(p + 2, end - p - 2) + "\n";
    p = end + 1;
  }
  return out;
}

class RestoreTest : public ::testing::Test {
 protected:
  void put(const AttachmentRecord& r) {
    auto s = store.put(r);
    ASSERT_TRUE(s) << s.error().msg;
  }
  RestoreReport restore(RestoreOptions o = {}) {
    auto r = restore_records(nft, store, o);
    EXPECT_TRUE(r) << r.error().msg;
    return r ? *r : RestoreReport{};
  }

  FakeNftables nft;
  FakeStateFs fs;
  RecordStore store{fs, kStateDir, kId};

  // c1: both families, a v4-only port, a bound port, an excluded device, both masquerades.
  AttachmentRecord c1 = rec(
      "c1", {{8080, 80, kTcp, "", AF_UNSPEC}, {5353, 53, kUdp, "", AF_INET}, {9090, 90, kTcp, "192.0.2.1", AF_UNSPEC}},
      {v4("10.1.0.5"), v6("fd00::5")}, "net1", {"mesos-cni0"}, {true, true});
  AttachmentRecord c2 = rec("c2", {{9091, 91, kTcp, "", AF_UNSPEC}}, {v4("10.1.0.6"), std::nullopt});
};

TEST_F(RestoreTest, RestoresIntoAnEmptyRulesetWhatTheAddsHadMade) {
  put(c1);
  put(c2);
  auto report = restore();
  EXPECT_EQ(report.records, 2u);
  EXPECT_EQ(names(report.restored), (std::vector<std::string>{"net1/c1", "net1/c2"}));
  EXPECT_EQ(report.batches, 1u);
  EXPECT_TRUE(report.complete());
  EXPECT_TRUE(report.conflicts.empty());
  EXPECT_EQ(nft.committed.size(), 1u);  // one batch for everything

  std::string d = nft.dump();
  EXPECT_TRUE(has(d, "table nft_port_mapper\n"));
  EXPECT_TRUE(has(d, "chain prerouting { type nat hook prerouting priority -100 }"));
  EXPECT_TRUE(has(d, "chain postrouting { type nat hook postrouting priority 100 }"));
  EXPECT_TRUE(has(d, "chain NET1\n"));
  EXPECT_TRUE(has(d, "chain NET1-hostip\n"));
  EXPECT_TRUE(has(d, "rule prerouting fib daddr type local jump NET1"));
  const std::string t1 = " comment \"net=net1 id=c1 if=eth0\"";
  EXPECT_TRUE(has(set_lines(nft, "ports"), "tcp . 8080" + t1));
  EXPECT_TRUE(has(set_lines(nft, "ports"), "udp . 5353" + t1));
  EXPECT_TRUE(has(set_lines(nft, "NET1-v4"), "tcp . 8080 : 10.1.0.5:80" + t1));
  EXPECT_TRUE(has(set_lines(nft, "NET1-v6"), "tcp . 8080 : [fd00::5]:80" + t1));
  EXPECT_TRUE(has(set_lines(nft, "NET1-v4"), "udp . 5353 : 10.1.0.5:53" + t1));
  EXPECT_EQ(set_lines(nft, "NET1-v6").find("5353"), std::string::npos);  // 0.0.0.0: IPv4 only
  EXPECT_TRUE(has(set_lines(nft, "ports4"), "9090" + t1));
  EXPECT_TRUE(has(set_lines(nft, "NET1-v4b"), ": 10.1.0.5:90" + t1));
  EXPECT_TRUE(has(set_lines(nft, "NET1-v4"), "tcp . 9091 : 10.1.0.6:91 comment \"net=net1 id=c2 if=eth0\""));
  EXPECT_TRUE(has(set_lines(nft, "hairpin4"), "10.1.0.5" + t1));
  EXPECT_TRUE(has(set_lines(nft, "hairpin6"), "fd00::5" + t1));
  EXPECT_TRUE(has(set_lines(nft, "masqall4"), "10.1.0.5" + t1));
  EXPECT_TRUE(has(set_lines(nft, "NET1-excl"), "mesos-cni0"));

  // Exactly what the two ADDs had installed: table, chains, rules and every element.
  FakeNftables expected;
  install(expected, c1);
  install(expected, c2);
  EXPECT_EQ(d, expected.dump());
  // c1: 3 port claims, 4 map elements, 4 addresses, 1 device; c2: claim, map element, address.
  EXPECT_EQ(report.elements_added, 15u);
}

TEST_F(RestoreTest, ASecondRestoreCommitsNothing) {
  put(c1);
  put(c2);
  restore();
  std::string d = nft.dump();
  size_t commits = nft.committed.size();
  auto again = restore();
  EXPECT_EQ(nft.committed.size(), commits);
  EXPECT_EQ(nft.dump(), d);
  EXPECT_TRUE(again.restored.empty());
  EXPECT_EQ(again.elements_added, 0u);
  EXPECT_EQ(again.batches, 0u);
  EXPECT_EQ(again.records, 2u);
  EXPECT_TRUE(again.complete());
}

TEST_F(RestoreTest, NothingToRestoreWhenTheAddsAreInPlace) {
  install(nft, c1);
  install(nft, c2);
  put(c1);
  put(c2);
  size_t commits = nft.committed.size();
  auto report = restore();
  EXPECT_EQ(nft.committed.size(), commits);
  EXPECT_TRUE(report.restored.empty());
}

TEST_F(RestoreTest, PutsBackOnlyWhatIsMissing) {
  install(nft, c1);
  put(c1);
  // Someone deleted one element and changed another's target.
  auto& t = nft.tables[kTableName];
  ASSERT_EQ(t.elements["NET1-v6"].erase(encode_key(kTcp, 8080)), 1u);
  auto& e = t.elements["NET1-v4"].at(encode_key(kTcp, 8080));
  e.data = encode_v4_target(v4("10.9.9.9"), 80);
  auto report = restore();
  EXPECT_EQ(names(report.restored), std::vector<std::string>{"net1/c1"});
  EXPECT_EQ(report.elements_added, 2u);
  ASSERT_FALSE(nft.committed.empty());
  std::string tx = nft.committed.back().dump();
  EXPECT_TRUE(has(tx, "delete element NET1-v4 tcp . 8080 : 10.9.9.9:80"));
  EXPECT_TRUE(has(tx, "create element NET1-v4 tcp . 8080 : 10.1.0.5:80"));
  EXPECT_TRUE(has(tx, "create element NET1-v6 tcp . 8080 : [fd00::5]:80"));
  EXPECT_EQ(count(tx, "element"), 3u) << tx;
  FakeNftables expected;
  install(expected, c1);
  EXPECT_EQ(set_lines(nft, "NET1-v4"), set_lines(expected, "NET1-v4"));
  EXPECT_EQ(set_lines(nft, "NET1-v6"), set_lines(expected, "NET1-v6"));
}

// Each chain's rules in order (the kernel keeps them per chain; the fake in one list).
std::map<std::string, std::vector<std::string>> rules_by_chain(const FakeNftables& nft) {
  std::map<std::string, std::vector<std::string>> out;
  auto t = nft.tables.find(kTableName);
  if (t == nft.tables.end()) return out;
  for (const auto& r : t->second.rules) out[r.chain].push_back(describe_rule(r));
  return out;
}

TEST_F(RestoreTest, RepairsAFlushedChain) {
  put(c1);
  restore();
  auto rules = rules_by_chain(nft);
  ASSERT_EQ(rules["prerouting"].size(), 2u);
  std::string elements = set_lines(nft, "NET1-v4") + set_lines(nft, "ports");
  // nft flush chain inet nft_port_mapper prerouting: every chain and element is still there.
  std::erase_if(nft.tables[kTableName].rules, [](const NftRule& r) { return r.chain == "prerouting"; });
  ASSERT_NE(rules_by_chain(nft), rules);
  auto report = restore();
  EXPECT_EQ(rules_by_chain(nft), rules);
  EXPECT_EQ(set_lines(nft, "NET1-v4") + set_lines(nft, "ports"), elements);
  EXPECT_TRUE(report.restored.empty());  // no element was missing
  ASSERT_FALSE(nft.committed.empty());
  EXPECT_TRUE(has(nft.committed.back().dump(), "add rule prerouting fib daddr type local jump NET1\n"));
  // And once whole, nothing more.
  size_t commits = nft.committed.size();
  restore();
  EXPECT_EQ(nft.committed.size(), commits);
}

TEST_F(RestoreTest, APortHeldByAnotherOwnerIsAConflictAndTheOthersAreRestored) {
  // c9 took tcp/8080 after the flush (its ADD had no record, or another state directory).
  AttachmentRecord c9 = rec("c9", {{8080, 88, kTcp, "", AF_UNSPEC}}, {v4("10.2.0.9"), std::nullopt}, "net2");
  install(nft, c9);
  put(c1);
  put(c2);
  auto report = restore();
  ASSERT_EQ(report.conflicts.size(), 1u);
  EXPECT_EQ(report.conflicts[0].first, c1.owner);
  EXPECT_TRUE(has(report.conflicts[0].second, "tcp/8080"));
  EXPECT_TRUE(has(report.conflicts[0].second, "container c9 (network net2, interface eth0)"));
  EXPECT_FALSE(report.complete());
  EXPECT_EQ(names(report.restored), std::vector<std::string>{"net1/c2"});

  std::string d = nft.dump();
  EXPECT_EQ(d.find("id=c1 "), std::string::npos) << d;  // none of c1's: not even its free ports
  EXPECT_TRUE(has(set_lines(nft, "NET2-v4"), "tcp . 8080 : 10.2.0.9:88 comment \"net=net2 id=c9 if=eth0\""));
  EXPECT_TRUE(has(set_lines(nft, "NET1-v4"), "tcp . 9091 : 10.1.0.6:91 comment \"net=net1 id=c2 if=eth0\""));
  // The record stays, for when the port is free again.
  EXPECT_TRUE(fs.exists(store.record_path(c1.owner)));
}

TEST_F(RestoreTest, OfTwoRecordsClaimingAPortTheFirstByPathHoldsItAtEqualAge) {
  AttachmentRecord a = rec("c1", {{8080, 80, kTcp, "", AF_UNSPEC}}, {v4("10.1.0.5"), std::nullopt});
  AttachmentRecord b =
      rec("c2", {{8080, 81, kTcp, "", AF_UNSPEC}, {7070, 70, kTcp, "", AF_UNSPEC}}, {v4("10.1.0.6"), std::nullopt});
  a.created_ns = b.created_ns = 1000;
  put(b);
  put(a);
  auto report = restore();
  EXPECT_EQ(names(report.restored), std::vector<std::string>{"net1/c1"});
  ASSERT_EQ(report.conflicts.size(), 1u);
  EXPECT_EQ(report.conflicts[0].first, b.owner);
  EXPECT_TRUE(has(report.conflicts[0].second, "tcp/8080 is also recorded for container c1"));
  std::string d = nft.dump();
  EXPECT_TRUE(has(set_lines(nft, "NET1-v4"), "tcp . 8080 : 10.1.0.5:80 comment \"net=net1 id=c1 if=eth0\""));
  EXPECT_EQ(d.find("id=c2 "), std::string::npos) << d;  // not even c2's free 7070
}

TEST_F(RestoreTest, OfTwoRecordsClaimingAPortTheOlderHoldsIt) {
  AttachmentRecord a = rec("c1", {{8080, 80, kTcp, "", AF_UNSPEC}}, {v4("10.1.0.5"), std::nullopt});
  AttachmentRecord b = rec("c2", {{8080, 81, kTcp, "", AF_UNSPEC}}, {v4("10.1.0.6"), std::nullopt});
  a.created_ns = 2000;  // c1 is first by path, but younger: an ADD killed before its refused commit
  b.created_ns = 1000;
  put(a);
  put(b);
  auto report = restore();
  EXPECT_EQ(names(report.restored), std::vector<std::string>{"net1/c2"});
  ASSERT_EQ(report.conflicts.size(), 1u);
  EXPECT_EQ(report.conflicts[0].first, a.owner);
  EXPECT_TRUE(has(set_lines(nft, "NET1-v4"), "tcp . 8080 : 10.1.0.6:81 comment \"net=net1 id=c2 if=eth0\""));
}

TEST_F(RestoreTest, ADeletingRecordIsFinishedAndNeverRestored) {
  AttachmentRecord c3 = rec("c3", {{7070, 70, kUdp, "", AF_UNSPEC}}, {v4("10.1.0.7"), std::nullopt});
  install(nft, c1);
  install(nft, c2);
  put(c1);
  put(c2);
  put(c3);  // its elements are gone already (the flush came first)
  // DELs killed after their first step.
  ASSERT_TRUE(store.mark_deleting(c1.owner));
  ASSERT_TRUE(store.mark_deleting(c3.owner));

  auto report = restore();
  EXPECT_EQ(names(report.finished_deletes), (std::vector<std::string>{"net1/c1", "net1/c3"}));
  EXPECT_EQ(report.records, 1u);
  EXPECT_TRUE(report.restored.empty());
  std::string d = nft.dump();
  EXPECT_EQ(d.find("id=c1 "), std::string::npos) << d;  // every element c1 had, addresses too
  EXPECT_EQ(count(d, "id=c2 "), 3u) << d;
  for (const auto* o : {&c1.owner, &c3.owner}) {
    EXPECT_FALSE(fs.exists(store.record_path(*o)));
    EXPECT_FALSE(fs.exists(store.deleting_path(*o)));
  }
  EXPECT_TRUE(fs.exists(store.record_path(c2.owner)));

  // After a flush, the finished DEL is not put back either.
  nft.tables.clear();
  report = restore();
  d = nft.dump();
  EXPECT_EQ(d.find("id=c1 "), std::string::npos) << d;
  EXPECT_EQ(names(report.restored), std::vector<std::string>{"net1/c2"});
}

TEST_F(RestoreTest, ADeletingRecordIsNotRestoredAfterAFlush) {
  put(c1);
  put(c2);
  ASSERT_TRUE(store.mark_deleting(c1.owner));
  auto report = restore();
  EXPECT_EQ(names(report.restored), std::vector<std::string>{"net1/c2"});
  EXPECT_EQ(names(report.finished_deletes), std::vector<std::string>{"net1/c1"});
  std::string d = nft.dump();
  EXPECT_EQ(d.find("id=c1 "), std::string::npos) << d;
  EXPECT_FALSE(fs.exists(store.deleting_path(c1.owner)));
}

TEST_F(RestoreTest, DryRunChangesNeitherTheKernelNorTheFiles) {
  AttachmentRecord c3 = rec("c3", {{7070, 70, kUdp, "", AF_UNSPEC}}, {v4("10.1.0.7"), std::nullopt});
  install(nft, c3);
  put(c3);
  ASSERT_TRUE(store.mark_deleting(c3.owner));
  put(c2);
  fs.put_file(kStateDir + "/00000000-1111-2222-3333-444444444444/netns-1/net1/c1:eth0", "{}");
  {
    auto l = store.lock_shared();  // the lock file exists, as after any plugin call
    ASSERT_TRUE(l);
  }
  auto files = fs.nodes;
  std::string d = nft.dump();
  size_t commits = nft.committed.size();
  int attempts = nft.commits_attempted;

  RestoreOptions o;
  o.dry_run = true;
  auto report = restore(o);
  EXPECT_EQ(names(report.restored), std::vector<std::string>{"net1/c2"});
  EXPECT_EQ(report.elements_added, 3u);  // port claim, map element, hairpin address
  EXPECT_EQ(names(report.finished_deletes), std::vector<std::string>{"net1/c3"});
  EXPECT_EQ(report.batches, 0u);
  EXPECT_EQ(nft.dump(), d);
  EXPECT_EQ(nft.committed.size(), commits);
  EXPECT_EQ(nft.commits_attempted, attempts);
  EXPECT_TRUE(fs.nodes == files) << fs.dump();
  EXPECT_FALSE(fs.locked(kNs + "/lock"));
}

TEST_F(RestoreTest, BadRecordsAreReportedAndTheOthersRestored) {
  put(c2);
  std::string link = kNs + "/net1/c5:eth0", foreign = kNs + "/net1/c6:eth0";
  fs.put_file("/tmp/planted", record_to_json(c1, kId));
  fs.put_symlink(link, "/tmp/planted");
  fs.put_file(foreign,
              record_to_json(rec("c6", {{6060, 60, kTcp, "", AF_UNSPEC}}, {v4("10.1.0.8"), std::nullopt}), kId),
              /*uid=*/1000, 0600);
  auto report = restore();
  ASSERT_EQ(report.bad.size(), 2u);
  std::set<std::string> paths{report.bad[0].path, report.bad[1].path};
  EXPECT_EQ(paths, (std::set<std::string>{link, foreign}));
  EXPECT_FALSE(report.complete());
  EXPECT_EQ(report.records, 1u);
  EXPECT_EQ(names(report.restored), std::vector<std::string>{"net1/c2"});
  std::string d = nft.dump();
  EXPECT_TRUE(has(d, "id=c2 "));
  EXPECT_EQ(d.find("id=c1 "), std::string::npos) << d;
  EXPECT_EQ(d.find("id=c6 "), std::string::npos) << d;
  EXPECT_EQ(fs.kind(link), FileInfo::Kind::kSymlink);  // left in place
  EXPECT_EQ(fs.kind(foreign), FileInfo::Kind::kFile);
}

TEST_F(RestoreTest, AChangedGenerationIsRetried) {
  put(c1);
  bool bumped = false;
  nft.before_commit = [&](FakeNftables& f) {
    if (!bumped) {
      bumped = true;
      ++f.gen_;  // someone committed between the dumps and our batch
    }
  };
  auto report = restore();
  EXPECT_TRUE(bumped);
  EXPECT_EQ(nft.commits_attempted, 2);
  EXPECT_EQ(nft.committed.size(), 1u);
  EXPECT_EQ(report.batches, 1u);
  EXPECT_EQ(names(report.restored), std::vector<std::string>{"net1/c1"});
  FakeNftables expected;
  install(expected, c1);
  EXPECT_EQ(nft.dump(), expected.dump());
}

TEST_F(RestoreTest, TheRetryIsPlannedFromWhatIsThereNow) {
  put(c1);
  put(c2);
  bool injected = false;
  nft.before_commit = [&](FakeNftables& f) {
    if (injected) return;
    injected = true;
    // Another ADD (another state directory) takes c1's 8080 between our dumps and our commit.
    install(f, rec("c9", {{8080, 88, kTcp, "", AF_UNSPEC}}, {v4("10.2.0.9"), std::nullopt}, "net2"));
  };
  auto report = restore();
  ASSERT_EQ(report.conflicts.size(), 1u);
  EXPECT_EQ(report.conflicts[0].first, c1.owner);
  EXPECT_TRUE(has(report.conflicts[0].second, "container c9"));
  EXPECT_EQ(names(report.restored), std::vector<std::string>{"net1/c2"});
  std::string d = nft.dump();
  EXPECT_TRUE(has(set_lines(nft, "NET2-v4"), "tcp . 8080 : 10.2.0.9:88 comment \"net=net2 id=c9 if=eth0\""));
  EXPECT_EQ(d.find("id=c1 "), std::string::npos) << d;
  EXPECT_TRUE(has(d, "id=c2 "));
}

TEST_F(RestoreTest, AnotherErrnoFailsTheRestore) {
  put(c1);
  nft.fail_next_commit = EPERM;
  auto r = restore_records(nft, store, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNftablesFailure);
  EXPECT_TRUE(nft.tables.empty());
}

TEST_F(RestoreTest, WaitsForNoPluginCall) {
  put(c1);
  RecordStore plugin(fs, kStateDir, kId);
  auto held = plugin.lock_shared();  // an ADD or DEL in progress
  ASSERT_TRUE(held);
  auto r = restore_records(nft, store, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTryAgainLater);
  EXPECT_EQ(nft.commits_attempted, 0);
  ASSERT_FALSE(fs.lock_requests.empty());
  EXPECT_TRUE(fs.lock_requests.back().exclusive);
}

TEST_F(RestoreTest, OneNetworkOnlyAndStaleBootsRemovedOnlyByAFullRestore) {
  AttachmentRecord n2 = rec("c7", {{7777, 77, kTcp, "", AF_UNSPEC}}, {v4("10.2.0.7"), std::nullopt}, "net2");
  put(c2);
  put(n2);
  const std::string old = kStateDir + "/00000000-1111-2222-3333-444444444444";
  fs.put_file(old + "/netns-1/net1/c1:eth0", "{}");
  RestoreOptions o;
  o.network = "net2";
  auto report = restore(o);
  EXPECT_EQ(report.records, 1u);
  EXPECT_EQ(names(report.restored), std::vector<std::string>{"net2/c7"});
  EXPECT_EQ(nft.dump().find("id=c2 "), std::string::npos);
  EXPECT_TRUE(fs.exists(old));

  report = restore();
  EXPECT_EQ(names(report.restored), std::vector<std::string>{"net1/c2"});
  EXPECT_FALSE(fs.exists(old));
  EXPECT_TRUE(fs.exists(store.record_path(c2.owner)));
}

// --- compare_with_kernel -------------------------------------------------------------------------

TEST_F(RestoreTest, CompareNamesEveryMissingElement) {
  AttachmentRecord r =
      rec("c1", {{8080, 80, kTcp, "", AF_UNSPEC}, {5353, 53, kUdp, "", AF_UNSPEC}}, {v4("10.1.0.5"), v6("fd00::5")});
  auto problems = compare_with_kernel(nft, r);
  ASSERT_TRUE(problems);
  // Per mapping: the claim and both families' map elements; then both hairpin addresses.
  ASSERT_EQ(problems->size(), 8u);
  for (const auto& p : *problems) EXPECT_TRUE(has(p, " is missing"));
  std::string all;
  for (const auto& p : *problems) all += p + "\n";
  EXPECT_TRUE(has(all, "mapping tcp/8080 (ports) is missing\n"));
  EXPECT_TRUE(has(all, "mapping tcp/8080 -> 10.1.0.5:80 (NET1-v4) is missing\n"));
  EXPECT_TRUE(has(all, "mapping tcp/8080 -> [fd00::5]:80 (NET1-v6) is missing\n"));
  EXPECT_TRUE(has(all, "mapping udp/5353 (ports) is missing\n"));
  EXPECT_TRUE(has(all, "mapping udp/5353 -> 10.1.0.5:53 (NET1-v4) is missing\n"));
  EXPECT_TRUE(has(all, "mapping udp/5353 -> [fd00::5]:53 (NET1-v6) is missing\n"));
  EXPECT_TRUE(has(all, "address 10.1.0.5 (hairpin4) is missing\n"));
  EXPECT_TRUE(has(all, "address fd00::5 (hairpin6) is missing\n"));

  install(nft, r);
  problems = compare_with_kernel(nft, r);
  ASSERT_TRUE(problems);
  EXPECT_TRUE(problems->empty()) << (*problems)[0];

  // One element gone: that one, and only that one.
  nft.tables[kTableName].elements["NET1-v6"].erase(encode_key(kUdp, 5353));
  problems = compare_with_kernel(nft, r);
  ASSERT_TRUE(problems);
  EXPECT_EQ(*problems, std::vector<std::string>{"mapping udp/5353 -> [fd00::5]:53 (NET1-v6) is missing"});
}

TEST_F(RestoreTest, CompareNamesAWrongTargetAndAnotherHolder) {
  AttachmentRecord r = rec("c1", {{8080, 80, kTcp, "", AF_UNSPEC}}, {v4("10.1.0.5"), std::nullopt}, "net1", {},
                           {/*hairpin=*/false, false});
  // The same owner's mapping, to another address (an ADD repeated with a new IP, say).
  AttachmentRecord moved = r;
  moved.addrs.v4 = v4("10.1.0.99");
  install(nft, moved);
  auto problems = compare_with_kernel(nft, r);
  ASSERT_TRUE(problems);
  EXPECT_EQ(*problems, std::vector<std::string>{
                           "mapping tcp/8080 -> 10.1.0.5:80 (NET1-v4) points at the wrong target 10.1.0.99:80"});

  FakeNftables other;
  install(other,
          rec("c9", {{8080, 80, kTcp, "", AF_UNSPEC}}, {v4("10.1.0.5"), std::nullopt}, "net1", {}, {false, false}));
  problems = compare_with_kernel(other, r);
  ASSERT_TRUE(problems);
  ASSERT_EQ(problems->size(), 2u);
  EXPECT_TRUE(has((*problems)[0], "mapping tcp/8080 (ports) is held by container c9"));
  EXPECT_TRUE(has((*problems)[1], "(NET1-v4) is held by container c9"));
}

// --- records_from_ruleset ------------------------------------------------------------------------

bool mapping_less(const PortMapping& a, const PortMapping& b) {
  return std::tie(a.protocol, a.host_port, a.host_ip, a.host_family, a.container_port) <
         std::tie(b.protocol, b.host_port, b.host_ip, b.host_family, b.container_port);
}
std::vector<PortMapping> sorted(std::vector<PortMapping> ms) {
  std::sort(ms.begin(), ms.end(), mapping_less);
  return ms;
}
std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST_F(RestoreTest, RecordsAreRebuiltFromWhatAnAddMade) {
  AttachmentRecord a = rec("c1",
                           {{8080, 80, kTcp, "", AF_UNSPEC},
                            {5353, 53, kUdp, "", AF_INET},
                            {8443, 443, kTcp, "", AF_INET6},
                            {9090, 90, kTcp, "192.0.2.1", AF_UNSPEC},
                            {9443, 443, Protocol::kSctp, "2001:db8::1", AF_UNSPEC}},
                           {v4("10.1.0.5"), v6("fd00::5")}, "net1", {"mesos-cni0", "eth9"}, {true, true});
  AttachmentRecord b = rec("c2", {{7070, 70, kUdp, "", AF_UNSPEC}}, {v4("10.1.0.6"), std::nullopt}, "net1",
                           {"mesos-cni0", "eth9"}, {false, false});
  install(nft, a);
  install(nft, b);

  auto found = records_from_ruleset(nft, store, std::nullopt);
  ASSERT_TRUE(found) << found.error().msg;
  ASSERT_EQ(found->size(), 2u);
  std::map<std::string, AttachmentRecord> by_id;
  for (const auto& r : *found) by_id[r.owner.container_id] = r;
  ASSERT_EQ(by_id.count("c1"), 1u);
  ASSERT_EQ(by_id.count("c2"), 1u);
  for (const auto* want : {&a, &b}) {
    const AttachmentRecord& got = by_id[want->owner.container_id];
    SCOPED_TRACE(want->owner.container_id);
    EXPECT_EQ(got.owner, want->owner);
    EXPECT_EQ(got.chain, "NET1");
    EXPECT_EQ(sorted(got.mappings), sorted(want->mappings));
    EXPECT_EQ(got.options.hairpin, want->options.hairpin);
    EXPECT_EQ(got.options.masq_all, want->options.masq_all);
    EXPECT_EQ(sorted(got.exclude_devices), sorted(want->exclude_devices));
    ASSERT_EQ(got.addrs.v4.has_value(), want->addrs.v4.has_value());
    if (want->addrs.v4) {
      EXPECT_EQ(got.addrs.v4->s_addr, want->addrs.v4->s_addr);
    }
    ASSERT_EQ(got.addrs.v6.has_value(), want->addrs.v6.has_value());
    if (want->addrs.v6) {
      EXPECT_EQ(std::memcmp(&*got.addrs.v6, &*want->addrs.v6, 16), 0);
    }
  }

  // The proof: recorded and restored into an empty ruleset, they make the same ruleset again.
  FakeStateFs fs2;
  RecordStore store2(fs2, kStateDir, kId);
  for (const auto& r : *found) ASSERT_TRUE(store2.put(r));
  FakeNftables fresh;
  auto report = restore_records(fresh, store2, {});
  ASSERT_TRUE(report) << report.error().msg;
  EXPECT_TRUE(report->complete());
  EXPECT_EQ(fresh.dump(), nft.dump());
}

TEST_F(RestoreTest, RecordsAreRebuiltOnlyForOwnersWithoutALiveRecord) {
  AttachmentRecord n2 = rec("c7", {{7777, 77, kTcp, "", AF_UNSPEC}}, {v4("10.2.0.7"), std::nullopt}, "net2");
  AttachmentRecord c3 = rec("c3", {{7070, 70, kUdp, "", AF_UNSPEC}}, {v4("10.1.0.7"), std::nullopt});
  install(nft, c1);
  install(nft, c2);
  install(nft, c3);
  install(nft, n2);
  put(c1);
  put(c3);
  ASSERT_TRUE(store.mark_deleting(c3.owner));  // a DEL in progress is no live record
  auto found = records_from_ruleset(nft, store, std::nullopt);
  ASSERT_TRUE(found) << found.error().msg;
  std::vector<std::string> got;
  for (const auto& r : *found) got.push_back(r.owner.network + "/" + r.owner.container_id);
  EXPECT_EQ(sorted(got), (std::vector<std::string>{"net1/c2", "net1/c3", "net2/c7"}));

  auto net2 = records_from_ruleset(nft, store, std::string("net2"));
  ASSERT_TRUE(net2);
  ASSERT_EQ(net2->size(), 1u);
  EXPECT_EQ((*net2)[0].owner, n2.owner);
  EXPECT_EQ((*net2)[0].chain, "NET2");

  FakeNftables empty;
  auto none = records_from_ruleset(empty, store, std::nullopt);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace nftpm
