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
  for (const auto& s : order) ops_.push_back({t, {}, {}, {}, std::move(by_set[s])});
}

namespace {

const char* kind_name(SetKind k) {
  switch (k) {
    case SetKind::kVerdictMap: return "inet_proto . inet_service : verdict";
    case SetKind::kIfnameSet: return "ifname";
    case SetKind::kMapV4: return "inet_proto . inet_service : ipv4_addr . inet_service";
    case SetKind::kMapV6: return "inet_proto . inet_service : ipv6_addr . inet_service";
  }
  return "?";
}

const char* rule_text(RuleKind k) {
  switch (k) {
    case RuleKind::kDispatch: return "fib daddr type local meta l4proto . th dport vmap @";
    case RuleKind::kExclude: return "iifname @%s return";
    case RuleKind::kDnatV4: return "meta nfproto ipv4 dnat ip to meta l4proto . th dport map @";
    case RuleKind::kDnatV6: return "meta nfproto ipv6 dnat ip6 to meta l4proto . th dport map @";
  }
  return "?";
}

std::string element_text(const NftElement& e) {
  std::ostringstream o;
  if (auto k = decode_key(e.key)) {
    o << (k->proto == 6 ? "tcp" : k->proto == 17 ? "udp" : k->proto == 132 ? "sctp" : std::to_string(k->proto))
      << " . " << k->port;
  } else {
    o << '"' << std::string(e.key.begin(), std::find(e.key.begin(), e.key.end(), 0)) << '"';
  }
  if (!e.goto_chain.empty()) o << " : goto " << e.goto_chain;
  if (!e.data.empty()) o << " : " << describe_target(e.data);
  if (!e.comment.empty()) o << " comment \"" << e.comment << '"';
  return o.str();
}

}  // namespace

std::string describe_rule(const NftRule& r) {
  std::string t = rule_text(r.kind);
  if (r.kind == RuleKind::kExclude) return "iifname @" + r.set + " return";
  return t + r.set;
}

std::string describe_element(const NftElement& e) { return element_text(e); }

std::string NftTransaction::dump() const {
  std::ostringstream o;
  for (const auto& op : ops_) {
    switch (op.type) {
      case OpType::kAddTable: o << "add table inet " << table_ << "\n"; break;
      case OpType::kAddChain:
        o << "add chain " << op.chain.name;
        if (op.chain.hook) o << (*op.chain.hook == Hook::kPrerouting ? " { nat prerouting -100 }" : " { nat output -100 }");
        o << "\n";
        break;
      case OpType::kAddSet: o << "add set " << op.set.name << " { " << kind_name(op.set.kind) << " }\n"; break;
      case OpType::kAddRule: o << "add rule " << op.rule.chain << " " << describe_rule(op.rule) << "\n"; break;
      case OpType::kCreateElements:
      case OpType::kAddElements:
      case OpType::kDeleteElements: {
        const char* verb = op.type == OpType::kCreateElements ? "create" : op.type == OpType::kAddElements ? "add" : "delete";
        for (const auto& e : op.elements) o << verb << " element " << e.set << " " << element_text(e) << "\n";
        break;
      }
    }
  }
  return o.str();
}

}  // namespace nftpm
