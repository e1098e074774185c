#include <arpa/inet.h>

#include <algorithm>
#include <sstream>

#include "nftpm/layout.h"
#include "nftpm/nft.h"

namespace nftpm {

void NftTransaction::push_elements(OpType t, std::vector<NftElement> e) {
  if (e.empty()) return;
  // One message per set: the kernel takes a list of elements of one set per message.
  std::map<std::string, std::vector<NftElement>> by_set;
  std::vector<std::string> order;
  for (auto& el : e) {
    if (!by_set.count(el.set)) order.push_back(el.set);
    by_set[el.set].push_back(std::move(el));
  }
  // And no message larger than a netlink attribute can measure: the element list is one nested
  // attribute, whose 16-bit length wraps past 64 KiB (a container with thousands of mappings,
  // a restore of a whole node).
  constexpr size_t kMaxListBytes = 60000;
  for (const auto& s : order) {
    std::vector<NftElement> chunk;
    size_t bytes = 0;
    for (auto& el : by_set[s]) {
      size_t cost = 64 + el.key.size() + el.data.size() + el.comment.size();
      if (!chunk.empty() && bytes + cost > kMaxListBytes) {
        ops_.push_back({t, {}, {}, {}, std::move(chunk)});
        chunk.clear();
        bytes = 0;
      }
      bytes += cost;
      chunk.push_back(std::move(el));
    }
    ops_.push_back({t, {}, {}, {}, std::move(chunk)});
  }
}

namespace {

const char* kind_name(SetKind k) {
  switch (k) {
    case SetKind::kPortSet: return "inet_proto . inet_service";
    case SetKind::kPortSet4: return "ipv4_addr . inet_proto . inet_service";
    case SetKind::kPortSet6: return "ipv6_addr . inet_proto . inet_service";
    case SetKind::kIfnameSet: return "ifname";
    case SetKind::kMapV4: return "inet_proto . inet_service : ipv4_addr . inet_service";
    case SetKind::kMapV6: return "inet_proto . inet_service : ipv6_addr . inet_service";
    case SetKind::kMapV4Bound: return "ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service";
    case SetKind::kMapV6Bound: return "ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service";
    case SetKind::kAddrSet4: return "ipv4_addr";
    case SetKind::kAddrSet6: return "ipv6_addr";
  }
  return "?";
}

const char* hook_name(Hook h) {
  switch (h) {
    case Hook::kPrerouting: return "prerouting";
    case Hook::kOutput: return "output";
    case Hook::kPostrouting: return "postrouting";
  }
  return "?";
}

std::string key_text(const NftElement& e) {
  const Bytes& k = e.key;
  char buf[INET6_ADDRSTRLEN];
  if (e.set.size() > 5 && e.set.compare(e.set.size() - 5, 5, "-excl") == 0) {
    return '"' + std::string(k.begin(), std::find(k.begin(), k.end(), 0)) + '"';
  }
  if (k.size() == 4 || k.size() == 16) {
    inet_ntop(k.size() == 4 ? AF_INET : AF_INET6, k.data(), buf, sizeof buf);
    return buf;
  }
  auto d = decode_key(k);
  if (!d) return "?";
  std::string s = protocol_name(d->proto);
  s += " . " + std::to_string(d->port);
  return d->host_ip.empty() ? s : d->host_ip + " . " + s;
}

}  // namespace

std::string describe_rule(const NftRule& r) {
  const std::string& s = r.set;
  switch (r.kind) {
    case RuleKind::kJump: return "fib daddr type local jump " + r.target;
    case RuleKind::kExclude: return "iifname @" + s + " return";
    case RuleKind::kSkipLoopback6: return "meta nfproto ipv6 ip6 daddr ::1 return";
    case RuleKind::kDnatV4: return "meta nfproto ipv4 dnat ip to meta l4proto . th dport map @" + s;
    case RuleKind::kDnatV6: return "meta nfproto ipv6 dnat ip6 to meta l4proto . th dport map @" + s;
    case RuleKind::kDnatV4Bound: return "meta nfproto ipv4 dnat ip to ip daddr . meta l4proto . th dport map @" + s;
    case RuleKind::kDnatV6Bound: return "meta nfproto ipv6 dnat ip6 to ip6 daddr . meta l4proto . th dport map @" + s;
    case RuleKind::kHairpin4: return "ct status dnat ip saddr @" + s + " ip daddr @" + s + " masquerade";
    case RuleKind::kHairpin6: return "ct status dnat ip6 saddr @" + s + " ip6 daddr @" + s + " masquerade";
    case RuleKind::kMasqAll4: return "ct status dnat ip daddr @" + s + " masquerade";
    case RuleKind::kMasqAll6: return "ct status dnat ip6 daddr @" + s + " masquerade";
    case RuleKind::kMasqLocalhost: return "oifname != \"lo\" ct status dnat ip saddr 127.0.0.0/8 masquerade";
    case RuleKind::kLocalnetGuard: return "iifname != \"lo\" ip daddr 127.0.0.0/8 drop";
  }
  return "?";
}

std::string describe_element(const NftElement& e) {
  std::ostringstream o;
  o << key_text(e);
  if (!e.data.empty()) o << " : " << describe_target(e.data);
  if (!e.comment.empty()) o << " comment \"" << e.comment << '"';
  return o.str();
}

std::string describe_chain(const NftChain& c) {
  std::string s = c.name;
  if (c.hook) {
    s += std::string(" { type ") + (c.filter ? "filter" : "nat") + " hook " + hook_name(*c.hook) + " priority " +
         std::to_string(c.priority) + " }";
  }
  return s;
}

std::string NftTransaction::dump() const {
  std::ostringstream o;
  for (const auto& op : ops_) {
    switch (op.type) {
      case OpType::kAddTable: o << "add table inet " << table_ << "\n"; break;
      case OpType::kDeleteTable: o << "delete table inet " << table_ << "\n"; break;
      case OpType::kFlushChain: o << "flush chain " << op.chain.name << "\n"; break;
      case OpType::kAddChain: o << "add chain " << describe_chain(op.chain) << "\n"; break;
      case OpType::kAddSet: o << "add set " << op.set.name << " { " << kind_name(op.set.kind) << " }\n"; break;
      case OpType::kAddRule:
        o << (op.rule.at_head ? "insert rule " : "add rule ") << op.rule.chain << " " << describe_rule(op.rule) << "\n";
        break;
      case OpType::kCreateElements:
      case OpType::kAddElements:
      case OpType::kDeleteElements: {
        const char* verb = op.type == OpType::kCreateElements ? "create"
                           : op.type == OpType::kAddElements  ? "add"
                                                              : "delete";
        for (const auto& e : op.elements) o << verb << " element " << e.set << " " << describe_element(e) << "\n";
        break;
      }
    }
  }
  return o.str();
}

}  // namespace nftpm
