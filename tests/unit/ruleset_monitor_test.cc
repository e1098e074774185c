// Decoding of nf_tables notifications (messages built by hand with libnftnl, as a commit builds
// them), and the monitor against the kernel in a private network namespace when allowed.
#include "nftpm/ruleset_monitor.h"

#include "nft/nftnl_handles.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <sched.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <thread>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

namespace nftpm {
namespace {

using Kind = RulesetEvent::Kind;

// ABI values of NFT_MSG_DESTROY* (Linux 6.3), which older headers lack.
constexpr uint16_t kMsgDestroyTable = 26, kMsgDestroySetElem = 30;

// One message in a buffer of its own.
struct Msg {
  std::vector<char> buf = std::vector<char>(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* get() { return reinterpret_cast<nlmsghdr*>(buf.data()); }
  const nlmsghdr* get() const { return reinterpret_cast<const nlmsghdr*>(buf.data()); }
};

Msg header(uint16_t type, uint16_t family) {
  Msg m;
  nftnl_nlmsg_build_hdr(m.buf.data(), type, family, 0, 1);
  return m;
}

Msg table_msg(uint16_t type, uint16_t family, const char* name) {
  Msg m = header(type, family);
  TablePtr t(nftnl_table_alloc());
  nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, name);
  nftnl_table_nlmsg_build_payload(m.get(), t.get());
  return m;
}

struct Elem {
  uint16_t port;
  std::string comment;
};

void add_elem(nftnl_set* s, const Elem& el) {
  nftnl_set_elem* e = nftnl_set_elem_alloc();
  uint16_t key = htons(el.port);
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &key, sizeof key);
  if (!el.comment.empty()) {
    UdataPtr ud(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
    nftnl_udata_put_strz(ud.get(), NFTNL_UDATA_SET_ELEM_COMMENT, el.comment.c_str());
    nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(ud.get()), nftnl_udata_buf_len(ud.get()));
  }
  nftnl_set_elem_add(s, e);
}

SetPtr set_ref(const char* table, const char* name, uint16_t family) {
  SetPtr s(nftnl_set_alloc());
  nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, table);
  nftnl_set_set_str(s.get(), NFTNL_SET_NAME, name);
  nftnl_set_set_u32(s.get(), NFTNL_SET_FAMILY, family);
  return s;
}

Msg elements_msg(uint16_t type, const char* table, const char* set, const std::vector<Elem>& elems) {
  Msg m = header(type, NFPROTO_INET);
  SetPtr s = set_ref(table, set, NFPROTO_INET);
  for (const auto& e : elems) add_elem(s.get(), e);
  nftnl_set_elems_nlmsg_build_payload(m.get(), s.get());
  return m;
}

Msg set_msg(uint16_t type, const char* table, const char* name) {
  Msg m = header(type, NFPROTO_IPV4);
  SetPtr s = set_ref(table, name, NFPROTO_IPV4);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_TYPE, 13);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_LEN, 2);
  nftnl_set_set_u32(s.get(), NFTNL_SET_FLAGS, NFT_SET_MAP);
  nftnl_set_set_u32(s.get(), NFTNL_SET_DATA_TYPE, 7);
  nftnl_set_set_u32(s.get(), NFTNL_SET_DATA_LEN, 4);
  nftnl_set_set_u32(s.get(), NFTNL_SET_ID, 7);
  nftnl_set_nlmsg_build_payload(m.get(), s.get());
  return m;
}

Msg chain_msg(uint16_t type, const char* table, const char* name) {
  Msg m = header(type, NFPROTO_INET);
  ChainPtr c(nftnl_chain_alloc());
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, table);
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, name);
  nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_HOOKNUM, NF_INET_PRE_ROUTING);
  nftnl_chain_set_s32(c.get(), NFTNL_CHAIN_PRIO, -100);
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TYPE, "nat");
  nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_POLICY, NF_ACCEPT);
  nftnl_chain_nlmsg_build_payload(m.get(), c.get());
  return m;
}

Msg rule_msg(uint16_t type, const char* table, const char* chain) {
  Msg m = header(type, NFPROTO_INET);
  RulePtr r(nftnl_rule_alloc());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, table);
  nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, chain);
  nftnl_rule_set_u64(r.get(), NFTNL_RULE_HANDLE, 42);
  nftnl_expr* meta = nftnl_expr_alloc("meta");
  nftnl_expr_set_u32(meta, NFTNL_EXPR_META_KEY, NFT_META_IIFNAME);
  nftnl_expr_set_u32(meta, NFTNL_EXPR_META_DREG, NFT_REG_1);
  nftnl_rule_add_expr(r.get(), meta);
  nftnl_expr* lookup = nftnl_expr_alloc("lookup");
  nftnl_expr_set_str(lookup, NFTNL_EXPR_LOOKUP_SET, "excluded");
  nftnl_expr_set_u32(lookup, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
  nftnl_rule_add_expr(r.get(), lookup);
  nftnl_expr* imm = nftnl_expr_alloc("immediate");
  nftnl_expr_set_u32(imm, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
  nftnl_expr_set_u32(imm, NFTNL_EXPR_IMM_VERDICT, static_cast<uint32_t>(NFT_RETURN));
  nftnl_rule_add_expr(r.get(), imm);
  nftnl_rule_nlmsg_build_payload(m.get(), r.get());
  return m;
}

TEST(RulesetNotification, DelTableGivesNameAndFamily) {
  Msg m = table_msg(NFT_MSG_DELTABLE, NFPROTO_INET, "nft_port_mapper");
  auto ev = parse_ruleset_notification(m.get());
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::kTableRemoved);
  EXPECT_EQ(ev[0].family, NFPROTO_INET);
  EXPECT_EQ(ev[0].table, "nft_port_mapper");
  EXPECT_EQ(ev[0].set, "");
  EXPECT_TRUE(ev[0].comments.empty());

  Msg v6 = table_msg(NFT_MSG_DELTABLE, NFPROTO_IPV6, "other");
  ev = parse_ruleset_notification(v6.get());
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].family, NFPROTO_IPV6);
  EXPECT_EQ(ev[0].table, "other");
}

TEST(RulesetNotification, DelSetElemGivesEachComment) {
  Msg m = elements_msg(NFT_MSG_DELSETELEM, "nft_port_mapper", "ports4",
                       {{80, "net=a id=b if=eth0"}, {443, "net=a id=c if=eth1"}});
  auto ev = parse_ruleset_notification(m.get());
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::kElementsRemoved);
  EXPECT_EQ(ev[0].family, NFPROTO_INET);
  EXPECT_EQ(ev[0].table, "nft_port_mapper");
  EXPECT_EQ(ev[0].set, "ports4");
  EXPECT_EQ(ev[0].comments, (std::vector<std::string>{"net=a id=b if=eth0", "net=a id=c if=eth1"}));
}

TEST(RulesetNotification, ElementWithoutCommentGivesEmptyString) {
  Msg m = elements_msg(NFT_MSG_DELSETELEM, "t", "s", {{80, ""}, {81, "x"}, {82, ""}});
  auto ev = parse_ruleset_notification(m.get());
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].comments, (std::vector<std::string>{"", "x", ""}));
}

TEST(RulesetNotification, ChainSetAndRuleRemovals) {
  Msg chain = chain_msg(NFT_MSG_DELCHAIN, "nft_port_mapper", "prerouting");
  auto ev = parse_ruleset_notification(chain.get());
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::kChainRemoved);
  EXPECT_EQ(ev[0].table, "nft_port_mapper");
  EXPECT_EQ(ev[0].family, NFPROTO_INET);

  Msg set = set_msg(NFT_MSG_DELSET, "nft_port_mapper", "map4");
  ev = parse_ruleset_notification(set.get());
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::kSetRemoved);
  EXPECT_EQ(ev[0].table, "nft_port_mapper");
  EXPECT_EQ(ev[0].set, "map4");
  EXPECT_EQ(ev[0].family, NFPROTO_IPV4);

  Msg rule = rule_msg(NFT_MSG_DELRULE, "nft_port_mapper", "prerouting");
  ev = parse_ruleset_notification(rule.get());
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::kRuleRemoved);
  EXPECT_EQ(ev[0].table, "nft_port_mapper");
}

TEST(RulesetNotification, DestroyCountsAsRemoval) {
  Msg t = table_msg(kMsgDestroyTable, NFPROTO_INET, "nft_port_mapper");
  auto ev = parse_ruleset_notification(t.get());
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::kTableRemoved);
  EXPECT_EQ(ev[0].table, "nft_port_mapper");

  Msg e = elements_msg(kMsgDestroySetElem, "nft_port_mapper", "s", {{80, "c"}});
  ev = parse_ruleset_notification(e.get());
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::kElementsRemoved);
  EXPECT_EQ(ev[0].comments, std::vector<std::string>{"c"});
}

TEST(RulesetNotification, AdditionsAreIgnored) {
  EXPECT_TRUE(parse_ruleset_notification(table_msg(NFT_MSG_NEWTABLE, NFPROTO_INET, "t").get()).empty());
  EXPECT_TRUE(parse_ruleset_notification(chain_msg(NFT_MSG_NEWCHAIN, "t", "c").get()).empty());
  EXPECT_TRUE(parse_ruleset_notification(set_msg(NFT_MSG_NEWSET, "t", "s").get()).empty());
  EXPECT_TRUE(parse_ruleset_notification(rule_msg(NFT_MSG_NEWRULE, "t", "c").get()).empty());
  EXPECT_TRUE(parse_ruleset_notification(elements_msg(NFT_MSG_NEWSETELEM, "t", "s", {{80, "c"}}).get()).empty());
  EXPECT_TRUE(parse_ruleset_notification(header(NFT_MSG_NEWGEN, AF_UNSPEC).get()).empty());
}

TEST(RulesetNotification, OtherSubsystemsAreIgnored) {
  Msg m = table_msg(NFT_MSG_DELTABLE, NFPROTO_INET, "t");
  m.get()->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | NFT_MSG_DELTABLE;
  EXPECT_TRUE(parse_ruleset_notification(m.get()).empty());
  m.get()->nlmsg_type = NLMSG_ERROR;
  EXPECT_TRUE(parse_ruleset_notification(m.get()).empty());
  EXPECT_TRUE(parse_ruleset_notification(nullptr).empty());
}

TEST(RulesetNotification, TruncatedMessagesDoNotCrash) {
  for (const Msg& m : {elements_msg(NFT_MSG_DELSETELEM, "nft_port_mapper", "s", {{80, "a"}, {81, "b"}}),
                       rule_msg(NFT_MSG_DELRULE, "t", "c"), set_msg(NFT_MSG_DELSET, "t", "s")}) {
    const uint32_t full = m.get()->nlmsg_len;
    for (uint32_t cut = 0; cut <= full; ++cut) {
      // Exactly `cut` bytes (at least the header, which the caller always has).
      std::vector<char> buf(std::max<size_t>(cut, sizeof(nlmsghdr)));
      std::memcpy(buf.data(), m.buf.data(), std::min<size_t>(buf.size(), full));
      auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data());
      nlh->nlmsg_len = cut;
      auto ev = parse_ruleset_notification(nlh);
      ASSERT_LE(ev.size(), 1u);
      if (cut < NLMSG_HDRLEN + sizeof(nfgenmsg)) {
        EXPECT_TRUE(ev.empty());
      }
      if (!ev.empty()) {
        EXPECT_FALSE(ev[0].table.empty());
      }
    }
    EXPECT_EQ(parse_ruleset_notification(m.get()).size(), 1u);
  }
}

// Attributes libnftnl itself would not survive: it exit()s on a bad length, and writes past an
// array for an element attribute numbered above NFTA_SET_ELEM_MAX.
TEST(RulesetNotification, MalformedAttributesAreSkipped) {
  {
    Msg m = header(NFT_MSG_DELTABLE, NFPROTO_INET);
    mnl_attr_put(m.get(), NFTA_TABLE_NAME, 0, nullptr);  // empty string: libnftnl's abi_breakage()
    EXPECT_TRUE(parse_ruleset_notification(m.get()).empty());
    mnl_attr_put(m.get(), NFTA_TABLE_NAME, 3, "abc");  // not NUL-terminated: skipped too
    EXPECT_TRUE(parse_ruleset_notification(m.get()).empty());
    mnl_attr_put_strz(m.get(), NFTA_TABLE_NAME, "good");
    auto ev = parse_ruleset_notification(m.get());
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].table, "good");
  }
  {
    Msg m = header(NFT_MSG_DELSETELEM, NFPROTO_INET);
    mnl_attr_put_strz(m.get(), NFTA_SET_ELEM_LIST_TABLE, "t");
    mnl_attr_put_strz(m.get(), NFTA_SET_ELEM_LIST_SET, "s");
    nlattr* list = mnl_attr_nest_start(m.get(), NFTA_SET_ELEM_LIST_ELEMENTS);
    nlattr* e = mnl_attr_nest_start(m.get(), NFTA_LIST_ELEM);
    mnl_attr_put_u16(m.get(), NFTA_SET_ELEM_FLAGS, 1);                           // a u32 two bytes short
    mnl_attr_put_u32(m.get(), NFTA_SET_ELEM_MAX + 3, 0);                         // beyond libnftnl's table
    const uint8_t bad_udata[] = {NFTNL_UDATA_SET_ELEM_COMMENT, 200, 'x', '\0'};  // length past the end
    mnl_attr_put(m.get(), NFTA_SET_ELEM_USERDATA, sizeof bad_udata, bad_udata);
    mnl_attr_nest_end(m.get(), e);
    // The kernel takes any nested attribute as an element, whatever its type (libnftnl numbers
    // them 1, 2, 3...); one with nothing in it removes an element without a comment.
    nlattr* empty = mnl_attr_nest_start(m.get(), NFTA_LIST_ELEM + 5);
    mnl_attr_nest_end(m.get(), empty);
    e = mnl_attr_nest_start(m.get(), NFTA_LIST_ELEM);
    const uint8_t good_udata[] = {NFTNL_UDATA_SET_ELEM_COMMENT, 2, 'y', '\0'};
    mnl_attr_put(m.get(), NFTA_SET_ELEM_USERDATA, sizeof good_udata, good_udata);
    mnl_attr_nest_end(m.get(), e);
    mnl_attr_nest_end(m.get(), list);
    auto ev = parse_ruleset_notification(m.get());
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].table, "t");
    EXPECT_EQ(ev[0].set, "s");
    EXPECT_EQ(ev[0].comments, (std::vector<std::string>{"", "", "y"}));
  }
}

// Random corruption of valid messages: whatever comes out, the process survives (libnftnl's
// exit() or a sanitizer report would end the test binary).
TEST(RulesetNotification, CorruptedMessagesDoNotCrash) {
  std::vector<Msg> seeds;
  seeds.push_back(elements_msg(NFT_MSG_DELSETELEM, "nft_port_mapper", "s", {{80, "net=a"}, {81, ""}, {82, "b"}}));
  seeds.push_back(rule_msg(NFT_MSG_DELRULE, "t", "c"));
  seeds.push_back(chain_msg(NFT_MSG_DELCHAIN, "t", "c"));
  seeds.push_back(set_msg(NFT_MSG_DELSET, "t", "s"));
  seeds.push_back(table_msg(NFT_MSG_DELTABLE, NFPROTO_INET, "t"));
  std::mt19937 rng(20240601);
  size_t decoded = 0;
  for (int i = 0; i < 20000; ++i) {
    const Msg& seed = seeds[i % seeds.size()];
    const uint32_t len = seed.get()->nlmsg_len;
    std::vector<char> buf(seed.buf.begin(), seed.buf.begin() + len);
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      // Past the 16-byte header (whose length field must stay honest), biased to small values.
      size_t at = sizeof(nlmsghdr) + rng() % (len - sizeof(nlmsghdr));
      buf[at] = static_cast<char>(rng() % 3 == 0 ? rng() % 8 : rng());
    }
    decoded += parse_ruleset_notification(reinterpret_cast<const nlmsghdr*>(buf.data())).size();
  }
  EXPECT_GT(decoded, 0u);  // the corruption left many messages readable
}

// --- against the kernel ----------------------------------------------------------------------------

// Runs `f` on a thread of its own in a new network namespace (the thread's alone); false if the
// namespace cannot be made (no CAP_SYS_ADMIN).
bool in_new_netns(const std::function<void()>& f) {
  bool made = false;
  std::thread t([&] {
    if (unshare(CLONE_NEWNET) != 0) return;
    made = true;
    f();
  });
  t.join();
  return made;
}

// Commits one nf_tables batch; `build` appends its messages. Returns 0 or the first error.
int commit(mnl_socket* nl, const std::function<void(mnl_nlmsg_batch*, uint32_t&)>& build) {
  std::vector<char> buf(1 << 20);
  mnl_nlmsg_batch* batch = mnl_nlmsg_batch_start(buf.data(), buf.size());
  uint32_t seq = 1;
  nftnl_batch_begin(static_cast<char*>(mnl_nlmsg_batch_current(batch)), seq++);
  mnl_nlmsg_batch_next(batch);
  build(batch, seq);
  nftnl_batch_end(static_cast<char*>(mnl_nlmsg_batch_current(batch)), seq++);
  mnl_nlmsg_batch_next(batch);
  int err = 0;
  if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(batch), mnl_nlmsg_batch_size(batch)) < 0) err = errno;
  mnl_nlmsg_batch_stop(batch);
  std::vector<char> rx(MNL_SOCKET_BUFFER_SIZE);
  for (;;) {  // the kernel has answered by the time sendto() returns
    ssize_t n = recv(mnl_socket_get_fd(nl), rx.data(), rx.size(), MSG_DONTWAIT);
    if (n < 0) break;
    int left = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<nlmsghdr*>(rx.data()); mnl_nlmsg_ok(nlh, left);
         nlh = mnl_nlmsg_next(nlh, &left)) {
      if (nlh->nlmsg_type != NLMSG_ERROR) continue;
      int e = -static_cast<nlmsgerr*>(mnl_nlmsg_get_payload(nlh))->error;
      if (e != 0 && err == 0) err = e;
    }
  }
  return err;
}

nlmsghdr* next_msg(mnl_nlmsg_batch* b, uint16_t type, uint16_t flags, uint32_t& seq) {
  return nftnl_nlmsg_build_hdr(static_cast<char*>(mnl_nlmsg_batch_current(b)), type, NFPROTO_INET, flags | NLM_F_ACK,
                               seq++);
}

void add_table_and_set(mnl_nlmsg_batch* b, uint32_t& seq) {
  TablePtr t(nftnl_table_alloc());
  nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, "nft_port_mapper");
  nftnl_table_nlmsg_build_payload(next_msg(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, seq), t.get());
  mnl_nlmsg_batch_next(b);
  SetPtr s = set_ref("nft_port_mapper", "s", NFPROTO_INET);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_TYPE, 13);  // inet_service
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_LEN, 2);
  nftnl_set_set_u32(s.get(), NFTNL_SET_ID, 1);
  nftnl_set_nlmsg_build_payload(next_msg(b, NFT_MSG_NEWSET, NLM_F_CREATE, seq), s.get());
  mnl_nlmsg_batch_next(b);
}

void put_elements(mnl_nlmsg_batch* b, uint32_t& seq, uint16_t type, const std::vector<Elem>& elems) {
  SetPtr s = set_ref("nft_port_mapper", "s", NFPROTO_INET);
  for (const auto& e : elems) add_elem(s.get(), e);
  uint16_t flags = type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0;
  nftnl_set_elems_nlmsg_build_payload(next_msg(b, type, flags, seq), s.get());
  mnl_nlmsg_batch_next(b);
}

bool nftables_usable(mnl_socket* nl) {
  // A table that cannot be made (no nf_tables in the kernel): nothing to test.
  return commit(nl, [](mnl_nlmsg_batch* b, uint32_t& seq) { add_table_and_set(b, seq); }) == 0;
}

TEST(RulesetMonitor, ReportsRemovalsFromTheKernel) {
  bool ran = false;
  bool made = in_new_netns([&] {
    SocketPtr nl(mnl_socket_open(NETLINK_NETFILTER));
    ASSERT_TRUE(nl);
    ASSERT_EQ(mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID), 0);
    auto mon = open_ruleset_monitor();
    ASSERT_TRUE(mon.ok()) << mon.error().msg;
    if (!nftables_usable(nl.get())) return;
    ran = true;

    // Additions only: nothing to report, and wait() sits out its time.
    ASSERT_EQ(commit(nl.get(),
                     [](mnl_nlmsg_batch* b, uint32_t& seq) {
                       put_elements(b, seq, NFT_MSG_NEWSETELEM, {{80, "net=a id=b if=eth0"}, {81, "net=a id=c"}});
                     }),
              0);
    auto start = std::chrono::steady_clock::now();
    auto ev = (*mon)->wait(100);
    ASSERT_TRUE(ev.ok()) << ev.error().msg;
    EXPECT_TRUE(ev->empty());
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));

    ASSERT_EQ(commit(nl.get(),
                     [](mnl_nlmsg_batch* b, uint32_t& seq) {
                       put_elements(b, seq, NFT_MSG_DELSETELEM, {{80, ""}});
                     }),
              0);
    ev = (*mon)->wait(5000);
    ASSERT_TRUE(ev.ok()) << ev.error().msg;
    ASSERT_EQ(ev->size(), 1u);
    EXPECT_EQ((*ev)[0].kind, Kind::kElementsRemoved);
    EXPECT_EQ((*ev)[0].family, NFPROTO_INET);
    EXPECT_EQ((*ev)[0].table, "nft_port_mapper");
    EXPECT_EQ((*ev)[0].set, "s");
    EXPECT_EQ((*ev)[0].comments, std::vector<std::string>{"net=a id=b if=eth0"});

    // `flush ruleset`: a DELTABLE with no name and no family.
    ASSERT_EQ(commit(nl.get(),
                     [](mnl_nlmsg_batch* b, uint32_t& seq) {
                       TablePtr t(nftnl_table_alloc());
                       nlmsghdr* nlh = nftnl_nlmsg_build_hdr(static_cast<char*>(mnl_nlmsg_batch_current(b)),
                                                             NFT_MSG_DELTABLE, NFPROTO_UNSPEC, NLM_F_ACK, seq++);
                       nftnl_table_nlmsg_build_payload(nlh, t.get());
                       mnl_nlmsg_batch_next(b);
                     }),
              0);
    ev = (*mon)->wait(5000);
    ASSERT_TRUE(ev.ok()) << ev.error().msg;
    bool table_removed = false, set_removed = false;
    for (const auto& e : *ev) {
      table_removed |= e.kind == Kind::kTableRemoved && e.table == "nft_port_mapper" && e.family == NFPROTO_INET;
      set_removed |= e.kind == Kind::kSetRemoved && e.table == "nft_port_mapper" && e.set == "s";
    }
    EXPECT_TRUE(table_removed);
    EXPECT_TRUE(set_removed);

    ev = (*mon)->wait(0);
    ASSERT_TRUE(ev.ok());
    EXPECT_TRUE(ev->empty());
  });
  if (!made || !ran) GTEST_SKIP() << "needs CAP_SYS_ADMIN (a network namespace) and nf_tables";
}

// The process's netfilter netlink sockets.
std::set<int> netfilter_sockets() {
  std::vector<int> fds;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return {};
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') fds.push_back(std::atoi(e->d_name));
  }
  closedir(d);
  std::set<int> out;
  for (int f : fds) {
    int domain = 0, proto = 0;
    socklen_t len = sizeof domain;
    if (getsockopt(f, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_NETLINK) continue;
    len = sizeof proto;
    if (getsockopt(f, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 && proto == NETLINK_NETFILTER) out.insert(f);
  }
  return out;
}

TEST(RulesetMonitor, ReportsAnOverrun) {
  bool ran = false;
  bool made = in_new_netns([&] {
    SocketPtr nl(mnl_socket_open(NETLINK_NETFILTER));
    ASSERT_TRUE(nl);
    ASSERT_EQ(mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID), 0);
    std::set<int> before = netfilter_sockets();
    auto mon = open_ruleset_monitor();
    ASSERT_TRUE(mon.ok()) << mon.error().msg;
    // The monitor's socket, shrunk to the kernel's minimum so that one commit overflows it.
    int fd = -1;
    for (int f : netfilter_sockets()) {
      if (!before.count(f)) fd = f;
    }
    ASSERT_GE(fd, 0);
    int tiny = 1;
    ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &tiny, sizeof tiny), 0);
    if (!nftables_usable(nl.get())) return;
    ran = true;
    std::vector<Elem> many;
    for (uint16_t p = 1000; p < 1400; ++p) many.push_back({p, "net=a id=" + std::to_string(p)});
    ASSERT_EQ(
        commit(nl.get(), [&](mnl_nlmsg_batch* b, uint32_t& seq) { put_elements(b, seq, NFT_MSG_NEWSETELEM, many); }),
        0);
    auto ev = (*mon)->wait(1000);
    ASSERT_TRUE(ev.ok()) << ev.error().msg;
    ASSERT_FALSE(ev->empty());
    EXPECT_EQ((*ev)[0].kind, Kind::kOverrun);
    EXPECT_TRUE((*ev)[0].table.empty());
    // Read to the end, the socket delivers again.
    ASSERT_EQ(commit(nl.get(),
                     [](mnl_nlmsg_batch* b, uint32_t& seq) {
                       put_elements(b, seq, NFT_MSG_DELSETELEM, {{1000, ""}});
                     }),
              0);
    ev = (*mon)->wait(5000);
    ASSERT_TRUE(ev.ok()) << ev.error().msg;
    ASSERT_EQ(ev->size(), 1u);
    EXPECT_EQ((*ev)[0].kind, Kind::kElementsRemoved);
    EXPECT_EQ((*ev)[0].comments, std::vector<std::string>{"net=a id=1000"});
  });
  if (!made || !ran) GTEST_SKIP() << "needs CAP_SYS_ADMIN (a network namespace) and nf_tables";
}

}  // namespace
}  // namespace nftpm
