// Which conntrack entries a sweep deletes, decided without the kernel: after ADD, flows to the
// host port on a local address that the new mapping would not see; after DEL, only the flows
// translated to what was removed.
#include "nftpm/conntrack.h"

#include <gtest/gtest.h>

#include <cstring>

#include "test_values.h"

namespace nftpm {
namespace {

in6_addr as6(const in_addr& a) {
  in6_addr x{};
  std::memcpy(&x, &a, 4);
  return x;
}

FlowTarget target4(const char* ip, uint16_t port) {
  return {AF_INET, as6(v4(ip)), port};
}

// A v4 UDP flow from a client to dst:dport, translated (or not) to to:tport.
ConntrackFlow flow4(uint8_t proto, const char* dst, uint16_t dport, const char* to = nullptr, uint16_t tport = 0) {
  ConntrackFlow f;
  f.family = AF_INET;
  f.proto = proto;
  f.orig_dst = as6(v4(dst));
  f.orig_dst_port = dport;
  f.dnat = to != nullptr;
  f.reply_src = as6(v4(to ? to : dst));
  f.reply_src_port = to ? tport : dport;
  return f;
}

class ConntrackSweepTest : public ::testing::Test {
 protected:
  LocalAddresses local{{v4("192.168.1.10")}, {v6("2001:db8::10")}};
  ConntrackSweep after_add{IPPROTO_UDP, 5353, ConntrackSweep::Mode::kAfterAdd, {target4("10.1.0.5", 53)}};
  ConntrackSweep after_del{IPPROTO_UDP, 5353, ConntrackSweep::Mode::kAfterDelete, {target4("10.1.0.5", 53)}};
};

TEST_F(ConntrackSweepTest, LocalAddressesIncludeLoopback) {
  EXPECT_TRUE(local.has(AF_INET, as6(v4("192.168.1.10"))));
  EXPECT_TRUE(local.has(AF_INET, as6(v4("127.0.0.1"))));
  EXPECT_TRUE(local.has(AF_INET, as6(v4("127.3.2.1"))));
  EXPECT_FALSE(local.has(AF_INET, as6(v4("192.168.1.11"))));
  EXPECT_TRUE(local.has(AF_INET6, v6("2001:db8::10")));
  EXPECT_TRUE(local.has(AF_INET6, v6("::1")));
  EXPECT_FALSE(local.has(AF_INET6, v6("2001:db8::11")));
}

TEST_F(ConntrackSweepTest, AfterAddCutsUntranslatedUdpToALocalAddress) {
  EXPECT_TRUE(sweep_deletes(after_add, flow4(IPPROTO_UDP, "192.168.1.10", 5353), local));
  EXPECT_TRUE(sweep_deletes(after_add, flow4(IPPROTO_UDP, "127.0.0.1", 5353), local));
  // The node as a client of someone else's port 5353 keeps its flow.
  EXPECT_FALSE(sweep_deletes(after_add, flow4(IPPROTO_UDP, "8.8.8.8", 5353), local));
}

TEST_F(ConntrackSweepTest, AfterAddCutsFlowsTranslatedToSomebodyElseOnly) {
  EXPECT_TRUE(sweep_deletes(after_add, flow4(IPPROTO_UDP, "192.168.1.10", 5353, "10.1.0.9", 53), local));
  EXPECT_TRUE(sweep_deletes(after_add, flow4(IPPROTO_UDP, "192.168.1.10", 5353, "10.1.0.5", 54), local));
  EXPECT_FALSE(sweep_deletes(after_add, flow4(IPPROTO_UDP, "192.168.1.10", 5353, "10.1.0.5", 53), local));
}

TEST_F(ConntrackSweepTest, OnlyTheSweepsProtocolAndPort) {
  EXPECT_FALSE(sweep_deletes(after_add, flow4(IPPROTO_UDP, "192.168.1.10", 5354), local));
  EXPECT_FALSE(sweep_deletes(after_add, flow4(IPPROTO_TCP, "192.168.1.10", 5353, "10.1.0.9", 53), local));
  EXPECT_FALSE(sweep_deletes(after_del, flow4(IPPROTO_TCP, "192.168.1.10", 5353, "10.1.0.5", 53), local));
}

TEST_F(ConntrackSweepTest, AfterAddLeavesUntranslatedSctpAlone) {
  ConntrackSweep sctp = after_add;
  sctp.proto = IPPROTO_SCTP;
  EXPECT_FALSE(sweep_deletes(sctp, flow4(IPPROTO_SCTP, "192.168.1.10", 5353), local));
  EXPECT_TRUE(sweep_deletes(sctp, flow4(IPPROTO_SCTP, "192.168.1.10", 5353, "10.1.0.9", 53), local));
}

TEST_F(ConntrackSweepTest, AfterDeleteCutsOnlyFlowsToTheRemovedTarget) {
  EXPECT_TRUE(sweep_deletes(after_del, flow4(IPPROTO_UDP, "192.168.1.10", 5353, "10.1.0.5", 53), local));
  // Wherever the client sent it: the kernel translated it to the container that is gone.
  EXPECT_TRUE(sweep_deletes(after_del, flow4(IPPROTO_UDP, "203.0.113.1", 5353, "10.1.0.5", 53), local));
  EXPECT_FALSE(sweep_deletes(after_del, flow4(IPPROTO_UDP, "192.168.1.10", 5353, "10.1.0.6", 53), local));
  EXPECT_FALSE(sweep_deletes(after_del, flow4(IPPROTO_UDP, "192.168.1.10", 5353), local));  // not translated
}

TEST_F(ConntrackSweepTest, FamiliesAreNeverMixed) {
  ConntrackFlow f = flow4(IPPROTO_UDP, "192.168.1.10", 5353, "10.1.0.5", 53);
  f.family = AF_INET6;
  f.orig_dst = v6("2001:db8::10");
  EXPECT_FALSE(sweep_deletes(after_del, f, local));  // the target is v4
  ConntrackSweep v6_del = after_del;
  v6_del.targets = {{AF_INET6, v6("fd00::5"), 53}};
  f.reply_src = v6("fd00::5");
  EXPECT_TRUE(sweep_deletes(v6_del, f, local));
  f.reply_src.reset();
  EXPECT_FALSE(sweep_deletes(v6_del, f, local));
}

}  // namespace
}  // namespace nftpm
