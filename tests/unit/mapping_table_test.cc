// MappingTable over the in-memory fake: the batches it builds, ownership, conflicts, retries.
#include "nftpm/mapping_table.h"
#include "fake_nftables.h"
#include "test_values.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cerrno>

namespace nftpm {
namespace {

class MappingTableTest : public ::testing::Test {
 protected:
  FakeNftables nft;
  MappingTable table{nft, NetworkLayout{"NET1"}, {"mesos-cni0", "eth9"}};
  std::vector<PortMapping> m8080{{8080, 80, Protocol::kTcp, {}}};
  ContainerAddrs a{v4("10.1.0.5"), std::nullopt};
};

TEST_F(MappingTableTest, FirstAddCreatesLayoutAndOwnedElements) {
  ASSERT_TRUE(table.add(owner("c1"), {{8080, 80, Protocol::kTcp, {}}, {5353, 53, Protocol::kUdp, {}}}, a));
  std::string d = nft.dump();
  EXPECT_NE(d.find("chain prerouting { type nat hook prerouting priority -100 }"), std::string::npos) << d;
  EXPECT_NE(d.find("chain localnet-guard { type filter hook prerouting priority -300 }"), std::string::npos);
  EXPECT_NE(d.find("set ports\n  tcp . 8080 comment \"net=net1 id=c1 if=eth0\""), std::string::npos) << d;
  EXPECT_NE(d.find("udp . 5353 : 10.1.0.5:53 comment \"net=net1 id=c1 if=eth0\""), std::string::npos) << d;
  EXPECT_NE(d.find("\"mesos-cni0\""), std::string::npos);
  EXPECT_NE(d.find("\"eth9\""), std::string::npos);
  // One pair of jumps per network: its host-IP chain at the head, its own chain at the end.
  EXPECT_NE(
      d.find("rule prerouting fib daddr type local jump NET1-hostip\nrule prerouting fib daddr type local jump NET1\n"),
      std::string::npos)
      << d;
  EXPECT_EQ(count(d, "rule prerouting"), 2u);
  // The first attempt hit ENOENT (no table); the second created the layout under a generation.
  EXPECT_EQ(nft.commits_attempted, 2);
}

TEST_F(MappingTableTest, LaterAddsAreOneBatchWithoutReads) {
  ASSERT_TRUE(table.add(owner("c1"), m8080, a));
  int before = nft.commits_attempted;
  ASSERT_TRUE(table.add(owner("c2"), {{9090, 90, Protocol::kTcp, {}}}, {v4("10.1.0.6"), std::nullopt}));
  EXPECT_EQ(nft.commits_attempted, before + 1);
  std::string tx = nft.committed.back().dump();
  EXPECT_EQ(tx.find("add table"), std::string::npos) << tx;
  EXPECT_NE(tx.find("create element ports tcp . 9090 comment"), std::string::npos) << tx;
}

TEST_F(MappingTableTest, ConflictNamesTheOwnerAndChangesNothing) {
  ASSERT_TRUE(table.add(owner("c1"), m8080, a));
  std::string before = nft.dump();
  auto s = table.add(owner("c2"), {{9090, 90, Protocol::kTcp, {}}, {8080, 81, Protocol::kTcp, {}}},
                     {v4("10.1.0.6"), std::nullopt});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kPortConflict);
  EXPECT_NE(s.error().msg.find("tcp/8080"), std::string::npos) << s.error().msg;
  EXPECT_NE(s.error().msg.find("container c1"), std::string::npos) << s.error().msg;
  EXPECT_EQ(nft.dump(), before);  // 9090 was not added either: the batch is atomic
}

TEST_F(MappingTableTest, HostIpBindingsComeBeforeEveryNetworksUnboundMappings) {
  ASSERT_TRUE(table.add(owner("c1"), m8080, a));
  MappingTable other(nft, NetworkLayout{"NET2"}, {});
  ASSERT_TRUE(other.add(owner("c2", "net2"), {{9090, 90, Protocol::kTcp, {}}}, {v4("10.2.0.5"), std::nullopt}));
  std::string prerouting;
  for (const auto& r : nft.tables[kTableName].rules) {
    if (r.chain == "prerouting") prerouting += r.target + " ";
  }
  EXPECT_EQ(prerouting, "NET2-hostip NET1-hostip NET1 NET2 ");
}

TEST_F(MappingTableTest, ConflictAcrossNetworks) {
  ASSERT_TRUE(table.add(owner("c1"), m8080, a));
  MappingTable other(nft, NetworkLayout{"NET2"}, {});
  auto s = other.add(owner("c9", "net2"), m8080, {v4("10.2.0.5"), std::nullopt});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kPortConflict);
  EXPECT_NE(s.error().msg.find("network net1"), std::string::npos);
}

TEST_F(MappingTableTest, SameOwnerAddingAgainReplacesItsElements) {
  ASSERT_TRUE(table.add(owner("c1"), m8080, a));
  ASSERT_TRUE(table.add(owner("c1"), m8080, {v4("10.1.0.9"), std::nullopt}));
  std::string d = nft.dump();
  EXPECT_NE(d.find("10.1.0.9:80"), std::string::npos) << d;
  EXPECT_EQ(d.find("10.1.0.5:80"), std::string::npos) << d;
}

TEST_F(MappingTableTest, RemoveByKeysTakesOnlyTheExactOwner) {
  ASSERT_TRUE(table.add(owner("P"), m8080, a));
  ASSERT_TRUE(table.add(owner("P.C"), {{8081, 80, Protocol::kTcp, {}}}, {v4("10.1.0.6"), std::nullopt}));
  // P's DEL names P.C's port too: the key is found, the owner differs, it stays.
  auto removed = table.remove(owner("P"),
                              std::vector<PortMapping>{{8080, 80, Protocol::kTcp, {}}, {8081, 80, Protocol::kTcp, {}}});
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->size(), 3u);  // port claim, v4 map, hairpin4
  std::string d = nft.dump();
  EXPECT_EQ(d.find("id=P if"), std::string::npos) << d;
  EXPECT_EQ(count(d, "id=P.C if"), 3u) << d;
}

TEST_F(MappingTableTest, RemoveByScanTakesOnlyTheExactOwner) {
  ASSERT_TRUE(table.add(owner("P"), m8080, a));
  ASSERT_TRUE(table.add(owner("P.C"), {{8081, 80, Protocol::kTcp, {}}}, {v4("10.1.0.6"), std::nullopt}));
  ASSERT_TRUE(table.add(owner("P", "net10"), {{8082, 80, Protocol::kTcp, {}}}, {v4("10.1.0.7"), std::nullopt}));
  auto removed = table.remove(owner("P"), std::nullopt);
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->size(), 3u);
  std::string d = nft.dump();
  EXPECT_EQ(count(d, "net=net1 id=P.C if"), 3u);
  EXPECT_EQ(count(d, "net=net10 id=P if"), 3u);  // another network's P is another owner
  EXPECT_EQ(count(d, "net=net1 id=P if"), 0u);
}

TEST_F(MappingTableTest, RemoveByRecordLooksAtTheRecordsFamiliesOnly) {
  std::vector<PortMapping> ms{{8080, 80, Protocol::kTcp, {}}, {8081, 81, Protocol::kUdp, {}}};
  ASSERT_TRUE(table.add(owner("c1"), ms, a));  // IPv4 only
  nft.element_lookups = 0;
  auto removed = table.remove(owner("c1"), ms, &a);
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->size(), 5u);  // two claims, two v4 map entries, hairpin4
  EXPECT_EQ(count(nft.dump(), "id=c1 if"), 0u) << nft.dump();
  // Per mapping its claim and the v4 map; then the address sets of the one address (2):
  // never the v6 map, where an IPv4-only record put nothing.
  EXPECT_EQ(nft.element_lookups, 2 * 2 + 2);

  // Without a record every map the key can serve is looked at.
  ASSERT_TRUE(table.add(owner("c1"), ms, a));
  nft.element_lookups = 0;
  ASSERT_TRUE(table.remove(owner("c1"), ms));
  EXPECT_EQ(nft.element_lookups, 2 * 3 + 2);
  EXPECT_EQ(count(nft.dump(), "id=c1 if"), 0u) << nft.dump();
}

TEST_F(MappingTableTest, RemoveWithNothingThereSucceeds) {
  auto r = table.remove(owner("ghost"), std::vector<PortMapping>{{8080, 80, Protocol::kTcp, {}}});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
  EXPECT_TRUE(table.remove(owner("ghost"), std::nullopt));
  EXPECT_EQ(nft.commits_attempted, 0);  // nothing to delete: no batch at all
}

TEST_F(MappingTableTest, DualStackAndHostIpBindings) {
  ContainerAddrs both{v4("10.1.0.5"), v6("fd00::5")};
  ASSERT_TRUE(table.add(owner("c1"),
                        {{8080, 80, Protocol::kTcp, {}},
                         {8081, 81, Protocol::kTcp, "192.0.2.1"},
                         {8082, 82, Protocol::kUdp, "2001:db8::1"}},
                        both));
  std::string d = nft.dump();
  EXPECT_NE(d.find("tcp . 8080 : [fd00::5]:80"), std::string::npos) << d;
  EXPECT_NE(d.find("192.0.2.1 . tcp . 8081 comment"), std::string::npos) << d;
  EXPECT_NE(d.find("192.0.2.1 . tcp . 8081 : 10.1.0.5:81"), std::string::npos) << d;
  EXPECT_NE(d.find("2001:db8::1 . udp . 8082 : [fd00::5]:82"), std::string::npos) << d;
  // A v4 host IP maps only the v4 address, and the other way round.
  EXPECT_EQ(d.find("192.0.2.1 . tcp . 8081 : [fd00::5]"), std::string::npos) << d;
  // The same port bound to an address and unbound are different keys.
  ASSERT_TRUE(table.add(owner("c2"), {{8081, 81, Protocol::kTcp, {}}}, {v4("10.1.0.6"), std::nullopt}));
  auto removed = table.remove(owner("c1"), std::vector<PortMapping>{{8080, 80, Protocol::kTcp, {}},
                                                                    {8081, 81, Protocol::kTcp, "192.0.2.1"},
                                                                    {8082, 82, Protocol::kUdp, "2001:db8::1"}});
  ASSERT_TRUE(removed);
  EXPECT_EQ(count(nft.dump(), "id=c1 if"), 0u) << nft.dump();
}

TEST_F(MappingTableTest, UnspecifiedHostIpMapsItsFamilyOnly) {
  ContainerAddrs both{v4("10.1.0.5"), v6("fd00::5")};
  PortMapping any4{8080, 80, Protocol::kTcp, {}, AF_INET};   // hostIP "0.0.0.0"
  PortMapping any6{9090, 90, Protocol::kTcp, {}, AF_INET6};  // hostIP "::"
  ASSERT_TRUE(table.add(owner("c1"), {any4, any6}, both));
  std::string d = nft.dump();
  EXPECT_NE(d.find("tcp . 8080 : 10.1.0.5:80"), std::string::npos) << d;
  EXPECT_EQ(d.find("tcp . 8080 : [fd00::5]"), std::string::npos) << d;
  EXPECT_NE(d.find("tcp . 9090 : [fd00::5]:90"), std::string::npos) << d;
  EXPECT_EQ(d.find("tcp . 9090 : 10.1.0.5"), std::string::npos) << d;
  EXPECT_TRUE(table.check(owner("c1"), {any4, any6}, both));
  // A container without an address of that family gets nothing for it, not an error.
  ASSERT_TRUE(table.add(owner("c2"), {{7070, 70, Protocol::kTcp, {}, AF_INET6}}, {v4("10.1.0.6"), std::nullopt}));
  EXPECT_EQ(nft.dump().find("7070"), std::string::npos) << nft.dump();
}

TEST_F(MappingTableTest, BothUnspecifiedHostIpsClaimThePortOnce) {
  ContainerAddrs both{v4("10.1.0.5"), v6("fd00::5")};
  std::vector<PortMapping> pair{{8080, 80, Protocol::kTcp, {}, AF_INET}, {8080, 80, Protocol::kTcp, {}, AF_INET6}};
  ASSERT_TRUE(table.add(owner("c1"), pair, both));
  std::string d = nft.dump();
  EXPECT_EQ(count(d, "tcp . 8080 comment"), 1u) << d;
  EXPECT_NE(d.find("tcp . 8080 : 10.1.0.5:80"), std::string::npos) << d;
  EXPECT_NE(d.find("tcp . 8080 : [fd00::5]:80"), std::string::npos) << d;
  EXPECT_TRUE(table.check(owner("c1"), pair, both));
  auto removed = table.remove(owner("c1"), pair);
  ASSERT_TRUE(removed) << removed.error().msg;
  EXPECT_EQ(removed->size(), 5u);  // the claim, both map elements, both hairpin addresses
  EXPECT_EQ(count(nft.dump(), "id=c1 if"), 0u) << nft.dump();
}

TEST_F(MappingTableTest, CheckPassesThenFails) {
  ASSERT_TRUE(table.add(owner("c1"), m8080, a));
  EXPECT_TRUE(table.check(owner("c1"), m8080, a));
  auto wrong_owner = table.check(owner("c2"), m8080, a);
  ASSERT_FALSE(wrong_owner);
  EXPECT_NE(wrong_owner.error().msg.find("another owner"), std::string::npos);
  auto wrong_target = table.check(owner("c1"), m8080, {v4("10.1.0.77"), std::nullopt});
  ASSERT_FALSE(wrong_target);
  EXPECT_NE(wrong_target.error().msg.find("wrong target"), std::string::npos);
  ASSERT_TRUE(table.remove(owner("c1"), std::nullopt));
  auto missing = table.check(owner("c1"), m8080, a);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().msg.find("missing"), std::string::npos);
}

TEST_F(MappingTableTest, GcKeepsValidAttachmentsOnly) {
  ASSERT_TRUE(table.add(owner("keep"), m8080, a));
  ASSERT_TRUE(table.add(owner("stale"), {{9090, 90, Protocol::kTcp, {}}}, {v4("10.1.0.6"), std::nullopt}));
  MappingTable other(nft, NetworkLayout{"NET2"}, {});
  ASSERT_TRUE(other.add(owner("elsewhere", "net2"), {{7070, 70, Protocol::kTcp, {}}}, {v4("10.2.0.6"), std::nullopt}));
  auto removed = table.gc("net1", {{"keep", "eth0"}});
  ASSERT_TRUE(removed);
  std::string d = nft.dump();
  EXPECT_EQ(count(d, "id=stale"), 0u) << d;
  EXPECT_EQ(count(d, "id=keep"), 3u) << d;
  EXPECT_EQ(count(d, "id=elsewhere"), 3u) << d;  // another network is not this GC's business
}

TEST_F(MappingTableTest, RetriesWhenTheRulesetChangesUnderneath) {
  ASSERT_TRUE(table.add(owner("c1"), m8080, a));
  // Another process commits between our read and our write, once: the remove retries.
  bool raced = false;
  nft.before_commit = [&](FakeNftables& f) {
    if (!raced) {
      raced = true;
      ++f.gen_;
    }
  };
  auto removed = table.remove(owner("c1"), std::nullopt);
  ASSERT_TRUE(removed) << removed.error().msg;
  EXPECT_TRUE(raced);
  EXPECT_EQ(count(nft.dump(), "id=c1"), 0u);
}

TEST_F(MappingTableTest, GivesUpAfterBoundedRetries) {
  ASSERT_TRUE(table.add(owner("c1"), m8080, a));
  nft.before_commit = [](FakeNftables& f) { ++f.gen_; };  // the ruleset changes every time
  auto removed = table.remove(owner("c1"), std::nullopt);
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code, ErrorCode::kTryAgainLater);
}

TEST_F(MappingTableTest, StaleAddressHolderIsReplacedNotAConflict) {
  // A container that vanished without DEL left its address in hairpin4; IPAM reuses the address.
  ASSERT_TRUE(table.add(owner("old"), m8080, a));
  ASSERT_TRUE(table.remove(owner("old"), std::vector<PortMapping>{}));  // nothing given: nothing removed
  FakeNftables::Table& t = nft.tables[kTableName];
  t.elements["ports"].clear();
  t.elements["NET1-v4"].clear();
  ASSERT_TRUE(table.add(owner("new"), {{9090, 90, Protocol::kTcp, {}}}, a));
  std::string d = nft.dump();
  EXPECT_NE(d.find("10.1.0.5 comment \"net=net1 id=new if=eth0\""), std::string::npos) << d;
}

TEST_F(MappingTableTest, KernelErrorsAreReportedInWords) {
  ASSERT_TRUE(table.add(owner("c1"), m8080, a));
  nft.fail_next_commit = EPERM;
  auto s = table.add(owner("c2"), {{9090, 90, Protocol::kTcp, {}}}, a);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kNftablesFailure);
  EXPECT_NE(s.error().msg.find("Operation not permitted"), std::string::npos) << s.error().msg;
}

}  // namespace
}  // namespace nftpm
