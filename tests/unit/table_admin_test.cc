// The operator's work on the whole table over the fake nftables: the listing, removal by owner
// across networks, counting and uninstalling.
#include "nftpm/table_admin.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "fake_nftables.h"
#include "nftpm/layout.h"
#include "nftpm/mapping_table.h"
#include "test_values.h"

namespace nftpm {
namespace {

class TableAdminTest : public ::testing::Test {
 protected:
  // net1 (chain NET1) and net2 (chain NET2), each with its own mappings.
  void add(const OwnerTag& o, const std::vector<PortMapping>& ms, const ContainerAddrs& a) {
    MappingTable t(nft, NetworkLayout{o.network == "net1" ? "NET1" : "NET2"}, {});
    auto s = t.add(o, ms, a);
    ASSERT_TRUE(s) << s.error().msg;
  }
  size_t owned() {
    auto n = count_owned(nft);
    EXPECT_TRUE(n) << n.error().msg;
    return n ? *n : 0;
  }
  FakeNftables nft;
  ContainerAddrs c1_addrs{v4("10.1.0.5"), v6("fd00::5")};
};

TEST_F(TableAdminTest, ListsEveryMappingOfEveryNetworkSortedByHostPort) {
  add(owner("c1", "net1"), {{9090, 90, Protocol::kTcp, {}}, {5353, 53, Protocol::kUdp, {}}}, c1_addrs);
  add(owner("c2", "net2"), {{8080, 80, Protocol::kTcp, {}}}, {v4("10.2.0.7"), std::nullopt});
  auto all = list_mappings(nft);
  ASSERT_TRUE(all) << all.error().msg;
  ASSERT_EQ(all->size(), 5u);
  std::vector<std::tuple<uint16_t, std::string, int, std::string, uint16_t, std::string, std::string>> got;
  for (const auto& m : *all) {
    ASSERT_TRUE(m.owner);
    got.push_back({m.host_port, m.protocol, m.family, m.container_ip, m.container_port, m.chain, m.owner->encode()});
    EXPECT_EQ(m.host_ip, "");
    EXPECT_EQ(m.comment, m.owner->encode());
  }
  decltype(got) want = {
      {5353, "udp", 4, "10.1.0.5", 53, "NET1", "net=net1 id=c1 if=eth0"},
      {5353, "udp", 6, "fd00::5", 53, "NET1", "net=net1 id=c1 if=eth0"},
      {8080, "tcp", 4, "10.2.0.7", 80, "NET2", "net=net2 id=c2 if=eth0"},
      {9090, "tcp", 4, "10.1.0.5", 90, "NET1", "net=net1 id=c1 if=eth0"},
      {9090, "tcp", 6, "fd00::5", 90, "NET1", "net=net1 id=c1 if=eth0"},
  };
  EXPECT_EQ(got, want);
}

TEST_F(TableAdminTest, NoTableListsNothingCountsNothingAndUninstalls) {
  auto all = list_mappings(nft);
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());
  EXPECT_EQ(owned(), 0u);
  EXPECT_TRUE(uninstall_table(nft, false));
  EXPECT_EQ(nft.commits_attempted, 0);
}

TEST_F(TableAdminTest, AnElementWithoutOurOwnerTagIsListedWithItsComment) {
  add(owner("c1", "net1"), {{8080, 80, Protocol::kTcp, {}}}, {v4("10.1.0.5"), std::nullopt});
  NftTransaction tx(kTableName);
  NftElement hand;
  hand.set = "NET1-v4";
  hand.key = encode_key(Protocol::kTcp, 7000);
  hand.data = encode_v4_target(v4("10.1.0.9"), 70);
  hand.comment = "by hand";
  tx.add_elements({hand});
  ASSERT_EQ(nft.commit(tx, std::nullopt)->error, 0);
  auto all = list_mappings(nft);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].host_port, 7000);
  EXPECT_FALSE((*all)[0].owner);
  EXPECT_EQ((*all)[0].comment, "by hand");
  EXPECT_EQ((*all)[0].container_ip, "10.1.0.9");
  EXPECT_TRUE((*all)[1].owner);
  EXPECT_EQ(owned(), count(nft.dump(), "comment \"net=net1 id=c1 if=eth0\""));  // not the hand-made one
  EXPECT_EQ(owned(), 3u);
}

TEST_F(TableAdminTest, RemovesExactlyTheSelectedOwnersInEveryNetwork) {
  // Mesos nests containers: P.C is P's child, a different owner that a removal of P must keep.
  add(owner("P", "net1"), {{8080, 80, Protocol::kTcp, {}}}, {v4("10.1.0.5"), std::nullopt});
  add(owner("P.C", "net1"), {{8081, 80, Protocol::kTcp, {}}}, {v4("10.1.0.6"), std::nullopt});
  add(owner("Q", "net1"), {{8082, 80, Protocol::kTcp, {}}}, {v4("10.1.0.7"), std::nullopt});
  add(owner("P", "net2"), {{9090, 90, Protocol::kUdp, {}}}, {v4("10.2.0.5"), std::nullopt});
  std::string before = nft.dump();
  // A claim, a mapping and a hairpin address in each network.
  size_t of_p = count(before, "id=P if=");
  ASSERT_EQ(of_p, 6u) << before;
  size_t batches = nft.committed.size();
  auto removed = remove_owned_where(nft, [](const OwnerTag& o) { return o.container_id == "P"; });
  ASSERT_TRUE(removed) << removed.error().msg;
  EXPECT_EQ(removed->size(), of_p);
  for (const auto& e : *removed) EXPECT_EQ(OwnerTag::decode(e.comment)->container_id, "P") << e.comment;
  std::string after = nft.dump();
  EXPECT_EQ(count(after, "id=P if="), 0u) << after;
  EXPECT_EQ(count(after, "id=P.C if="), count(before, "id=P.C if=")) << after;
  EXPECT_EQ(count(after, "id=Q if="), count(before, "id=Q if=")) << after;
  EXPECT_EQ(count(after, "id=P.C if="), 3u) << after;
  // One batch, guarded by the generation it read.
  ASSERT_EQ(nft.committed.size(), batches + 1);
  for (const auto& op : nft.committed.back().ops()) EXPECT_EQ(op.type, NftTransaction::OpType::kDeleteElements);
}

TEST_F(TableAdminTest, RemovesByNetworkAndOwnerTogether) {
  add(owner("P", "net1"), {{8080, 80, Protocol::kTcp, {}}}, {v4("10.1.0.5"), std::nullopt});
  add(owner("P", "net2"), {{9090, 90, Protocol::kTcp, {}}}, {v4("10.2.0.5"), std::nullopt});
  size_t in_net1 = count(nft.dump(), "net=net1 id=P if=");
  size_t in_net2 = count(nft.dump(), "net=net2 id=P if=");
  auto removed =
      remove_owned_where(nft, [](const OwnerTag& o) { return o.container_id == "P" && o.network == "net2"; });
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->size(), in_net2);
  std::string after = nft.dump();
  EXPECT_EQ(count(after, "net=net1 id=P if="), in_net1) << after;
  EXPECT_EQ(count(after, "net=net2"), 0u) << after;
}

TEST_F(TableAdminTest, SelectingNobodyCommitsNothing) {
  add(owner("c1", "net1"), {{8080, 80, Protocol::kTcp, {}}}, {v4("10.1.0.5"), std::nullopt});
  int before = nft.commits_attempted;
  auto removed = remove_owned_where(nft, [](const OwnerTag&) { return false; });
  ASSERT_TRUE(removed);
  EXPECT_TRUE(removed->empty());
  EXPECT_EQ(nft.commits_attempted, before);
}

TEST_F(TableAdminTest, ARemovalReadsAgainWhenTheRulesetChangedUnderIt) {
  add(owner("c1", "net1"), {{8080, 80, Protocol::kTcp, {}}}, {v4("10.1.0.5"), std::nullopt});
  bool once = true;
  nft.before_commit = [&](FakeNftables& f) {
    if (once) {
      once = false;
      // Someone else's ADD lands between our read and our commit.
      MappingTable t(f, NetworkLayout{"NET1"}, {});
      ASSERT_TRUE(t.add(owner("c2", "net1"), {{8090, 80, Protocol::kTcp, {}}}, {v4("10.1.0.8"), std::nullopt}));
    }
  };
  size_t of_c1 = count(nft.dump(), "id=c1 ");
  auto removed = remove_owned_where(nft, [](const OwnerTag& o) { return o.container_id == "c1"; });
  ASSERT_TRUE(removed) << removed.error().msg;
  EXPECT_EQ(removed->size(), of_c1);
  std::string after = nft.dump();
  EXPECT_EQ(count(after, "id=c1 "), 0u) << after;
  EXPECT_EQ(count(after, "id=c2 "), of_c1) << after;  // the same shape, in place
  EXPECT_FALSE(once);
}

TEST_F(TableAdminTest, CountsOwnedElementsOfEveryKind) {
  add(owner("c1", "net1"), {{8080, 80, Protocol::kTcp, {}}}, c1_addrs);
  // A claim, a v4 and a v6 mapping, and the container's addresses in the hairpin sets.
  size_t n = count(nft.dump(), "comment \"net=net1 id=c1 if=eth0\"");
  EXPECT_GE(n, 3u);
  EXPECT_EQ(owned(), n);
  add(owner("c2", "net2"), {{9090, 80, Protocol::kTcp, {}}}, {v4("10.2.0.5"), std::nullopt});
  EXPECT_EQ(owned(), count(nft.dump(), "comment \"net="));
}

TEST_F(TableAdminTest, UninstallIsRefusedWhileMappingsRemainUnlessForced) {
  add(owner("c1", "net1"), {{8080, 80, Protocol::kTcp, {}}}, {v4("10.1.0.5"), std::nullopt});
  std::string before = nft.dump();
  auto s = uninstall_table(nft, false);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidConfig);
  EXPECT_NE(s.error().msg.find("still holds"), std::string::npos) << s.error().msg;
  EXPECT_EQ(nft.dump(), before);
  ASSERT_TRUE(uninstall_table(nft, true));
  EXPECT_TRUE(nft.tables.empty());
}

TEST_F(TableAdminTest, AnEmptyTableIsUninstalledWithoutForce) {
  add(owner("c1", "net1"), {{8080, 80, Protocol::kTcp, {}}}, {v4("10.1.0.5"), std::nullopt});
  ASSERT_TRUE(remove_owned_where(nft, [](const OwnerTag&) { return true; }));
  ASSERT_FALSE(nft.tables.empty());
  ASSERT_TRUE(uninstall_table(nft, false));
  EXPECT_TRUE(nft.tables.empty());
}

TEST_F(TableAdminTest, UninstallWithoutForceIsGuardedByTheGeneration) {
  nft.tables[kTableName];                                 // an empty table
  nft.before_commit = [](FakeNftables& f) { ++f.gen_; };  // a mapping could have come meanwhile
  auto s = uninstall_table(nft, false);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kTryAgainLater);
  EXPECT_FALSE(nft.tables.empty());
}

TEST_F(TableAdminTest, ViewOfReadsMapElementsAndNothingElse) {
  MappingTable t(nft, NetworkLayout{"NET1"}, {});
  auto w = t.wanted_elements(owner("c1"), {{8080, 80, Protocol::kUdp, {}}}, c1_addrs);
  int mappings = 0;
  for (const auto& e : w.ports) {
    auto v = view_of(e, "NET1");
    if (e.data.empty()) {
      EXPECT_FALSE(v) << describe_element(e);  // a claim is no mapping
      continue;
    }
    ASSERT_TRUE(v) << describe_element(e);
    ++mappings;
    EXPECT_EQ(v->protocol, "udp");
    EXPECT_EQ(v->host_port, 8080);
    EXPECT_EQ(v->container_port, 80);
    EXPECT_EQ(v->chain, "NET1");
    EXPECT_EQ(v->container_ip, v->family == 4 ? "10.1.0.5" : "fd00::5");
    ASSERT_TRUE(v->owner);
    EXPECT_EQ(*v->owner, owner("c1"));
  }
  EXPECT_EQ(mappings, 2);
  for (const auto& e : w.addresses) EXPECT_FALSE(view_of(e, "NET1")) << describe_element(e);
  NftElement garbage;
  garbage.set = "NET1-v4";
  garbage.key = {1, 2, 3};
  garbage.data = {4, 5};
  EXPECT_FALSE(view_of(garbage, "NET1"));
}

}  // namespace
}  // namespace nftpm
