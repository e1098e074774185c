// A tiny object model of the nftables objects this plugin owns, a transaction that collects
// operations on them, and the interface behind which the kernel sits (real: netlink over
// libnftnl/libmnl; fake: in memory, for unit tests). In the spirit of knftables.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "nftpm/error.h"

namespace nftpm {

using Bytes = std::vector<uint8_t>;

struct NftElement {
  std::string set;
  Bytes key;
  Bytes data;           // map data; empty for plain sets
  std::string comment;  // owner tag, stored as NFTNL_UDATA_SET_ELEM_COMMENT

  bool same_value(const NftElement& o) const { return data == o.data; }
  bool operator==(const NftElement&) const = default;
};

enum class SetKind {
  kPortSet,     // inet_proto . inet_service               (host port claims)
  kPortSet4,    // ipv4_addr . inet_proto . inet_service   (claims bound to a host IPv4)
  kPortSet6,    // ipv6_addr . inet_proto . inet_service   (claims bound to a host IPv6)
  kIfnameSet,   // ifname
  kMapV4,       // inet_proto . inet_service : ipv4_addr . inet_service
  kMapV6,       // inet_proto . inet_service : ipv6_addr . inet_service
  kMapV4Bound,  // ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
  kMapV6Bound,  // ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service
  kAddrSet4,    // ipv4_addr
  kAddrSet6,    // ipv6_addr
};

struct NftSet {
  std::string name;
  SetKind kind;
};

enum class Hook { kPrerouting, kOutput, kPostrouting };

struct NftChain {
  std::string name;
  std::optional<Hook> hook;  // base chains only
  int priority = 0;
  bool filter = false;  // type filter instead of type nat
};

// The only rule shapes this plugin writes; each is a fixed expression list (netlink_nftables.cc).
enum class RuleKind {
  kJump,           // fib daddr type local jump <target>
  kExclude,        // iifname @set return
  kSkipLoopback6,  // meta nfproto ipv6 ip6 daddr ::1 return
  kDnatV4,         // meta nfproto ipv4 dnat ip to meta l4proto . th dport map @set
  kDnatV6,         // meta nfproto ipv6 dnat ip6 to meta l4proto . th dport map @set
  kDnatV4Bound,    // meta nfproto ipv4 dnat ip to ip daddr . meta l4proto . th dport map @set
  kDnatV6Bound,    // meta nfproto ipv6 dnat ip6 to ip6 daddr . meta l4proto . th dport map @set
  kHairpin4,       // ct status dnat ip saddr @set ip daddr @set masquerade
  kHairpin6,       // ct status dnat ip6 saddr @set ip6 daddr @set masquerade
  kMasqAll4,       // ct status dnat ip daddr @set masquerade
  kMasqAll6,       // ct status dnat ip6 daddr @set masquerade
  kMasqLocalhost,  // oifname != "lo" ct status dnat ip saddr 127.0.0.0/8 masquerade
  kLocalnetGuard,  // iifname != "lo" ip daddr 127.0.0.0/8 drop
};

struct NftRule {
  std::string chain;
  RuleKind kind;
  std::string set;       // empty for the rules that use none
  std::string target;    // kJump: the chain jumped to
  bool at_head = false;  // inserted before the chain's other rules instead of appended
};

class NftTransaction {
 public:
  enum class OpType {
    kAddTable,
    kAddChain,
    kAddSet,
    kAddRule,
    kCreateElements,
    kAddElements,
    kDeleteElements,
    kDeleteTable,
    kFlushChain
  };
  struct Op {
    OpType type;
    NftChain chain;
    NftSet set;
    NftRule rule;
    std::vector<NftElement> elements;  // all of one set
  };

  explicit NftTransaction(std::string table) : table_(std::move(table)) {}

  void add_table() { ops_.push_back({OpType::kAddTable, {}, {}, {}, {}}); }
  // The whole table, with everything in it.
  void delete_table() { ops_.push_back({OpType::kDeleteTable, {}, {}, {}, {}}); }
  void add_chain(NftChain c) { ops_.push_back({OpType::kAddChain, std::move(c), {}, {}, {}}); }
  void add_set(NftSet s) { ops_.push_back({OpType::kAddSet, {}, std::move(s), {}, {}}); }
  void add_rule(NftRule r) { ops_.push_back({OpType::kAddRule, {}, {}, std::move(r), {}}); }
  // Deletes every rule of the chain (which must exist).
  void flush_chain(const std::string& chain) {
    ops_.push_back({OpType::kFlushChain, {chain, {}, 0, false}, {}, {}, {}});
  }
  // Fails with EEXIST/EBUSY if a key is present already (NLM_F_EXCL): how conflicts are found.
  void create_elements(std::vector<NftElement> e) { push_elements(OpType::kCreateElements, std::move(e)); }
  // Idempotent: an element that is present already is left as it is.
  void add_elements(std::vector<NftElement> e) { push_elements(OpType::kAddElements, std::move(e)); }
  void delete_elements(std::vector<NftElement> e) { push_elements(OpType::kDeleteElements, std::move(e)); }

  const std::string& table() const { return table_; }
  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  // One line per operation, for logs and for unit tests to assert on.
  std::string dump() const;

 private:
  void push_elements(OpType t, std::vector<NftElement> e);
  std::string table_;
  std::vector<Op> ops_;
};

// nft-like text of one rule / element, for dumps and messages.
std::string describe_rule(const NftRule& r);
std::string describe_element(const NftElement& e);
std::string describe_chain(const NftChain& c);

// What the kernel said of a batch. error is an errno (0: committed); failed_op indexes ops().
struct CommitOutcome {
  int error = 0;
  size_t failed_op = 0;
};

struct TableContents {
  std::set<std::string> chains;
  std::set<std::string> sets;
  std::map<std::string, size_t> rules;  // per chain: how many rules it holds
};

class Nftables {
 public:
  virtual ~Nftables() = default;
  // The ruleset generation; a batch carrying it is refused (ERESTART) if the ruleset changed.
  virtual Result<uint32_t> generation() = 0;
  // nullopt when the table does not exist.
  virtual Result<std::optional<TableContents>> list_table(const std::string& table) = 0;
  // nullopt when the set or the element does not exist.
  virtual Result<std::optional<NftElement>> get_element(const std::string& table, const std::string& set,
                                                        const Bytes& key) = 0;
  // get_element() of each of `refs` (set, key), answers in their order. The kernel's version
  // asks many keys of a set in one message and many messages in one datagram, instead of one
  // round trip each: a DEL of a container with 1,000 mappings looks up 2,000 keys or more.
  virtual Result<std::vector<std::optional<NftElement>>> get_elements(const std::string& table,
                                                                      const std::vector<NftElement>& refs) {
    std::vector<std::optional<NftElement>> out;
    out.reserve(refs.size());
    for (const auto& r : refs) {
      auto e = get_element(table, r.set, r.key);
      if (!e) return e.take_error();
      out.push_back(std::move(*e));
    }
    return out;
  }
  // Empty when the set does not exist.
  virtual Result<std::vector<NftElement>> list_elements(const std::string& table, const std::string& set) = 0;
  virtual Result<CommitOutcome> commit(const NftTransaction& tx, std::optional<uint32_t> genid) = 0;
  // Has the kernel check every operation of `tx` and then abort it: nothing changes. How STATUS
  // finds out whether this kernel has every feature the layout needs.
  virtual Result<CommitOutcome> dry_run(const NftTransaction& tx) = 0;
};

// The kernel, over a netfilter netlink socket. Fails with a clear message when the socket cannot
// be opened (no CAP_NET_ADMIN, no nf_tables).
Result<std::unique_ptr<Nftables>> open_netlink_nftables();

}  // namespace nftpm
