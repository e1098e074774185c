#include <arpa/inet.h>

#include <cstring>

#include "nftpm/layout.h"

namespace nftpm {

bool is_reserved_name(const std::string& chain) {
  for (const char* n : {kPreroutingChain, kOutputChain, kPostroutingChain, kGuardChain}) {
    if (chain == n) return true;
  }
  // <chain>-hostip is a network's second chain: a network may not be named like one.
  return chain.size() > 7 && chain.compare(chain.size() - 7, 7, "-hostip") == 0;
}

std::vector<std::string> global_owned_sets() {
  return {kPortSet, kPortSet4, kPortSet6, kHairpinSet4, kHairpinSet6, kMasqAllSet4, kMasqAllSet6};
}

std::vector<std::string> network_owned_sets(const NetworkLayout& net) {
  return {net.v4_map(), net.v6_map(), net.v4_bound_map(), net.v6_bound_map()};
}

namespace {

const std::pair<const char*, Hook> kBaseChains[] = {{kPreroutingChain, Hook::kPrerouting},
                                                    {kOutputChain, Hook::kOutput}};

// The rules of each chain, in order. The network's chains: exclusions first, then its mappings;
// a lookup that misses ends its rule, so the next one is tried. [::1] is never translated: IPv6
// drops a loopback destination arriving from another device, so the answer could never come back,
// and a client would hang instead of being refused (or reaching the node's own ::1 listener).
// 127.0.0.1 works, through route_localnet and masquerade.
std::vector<NftRule> network_rules(const NetworkLayout& net, bool hostip) {
  const std::string& c = hostip ? net.hostip_chain() : net.chain;
  return {
      {c, RuleKind::kExclude, net.exclude_set(), "", false},
      {c, RuleKind::kSkipLoopback6, "", "", false},
      {c, hostip ? RuleKind::kDnatV4Bound : RuleKind::kDnatV4, hostip ? net.v4_bound_map() : net.v4_map(), "", false},
      {c, hostip ? RuleKind::kDnatV6Bound : RuleKind::kDnatV6, hostip ? net.v6_bound_map() : net.v6_map(), "", false}};
}

std::vector<NftRule> postrouting_rules() {
  return {{kPostroutingChain, RuleKind::kHairpin4, kHairpinSet4, "", false},
          {kPostroutingChain, RuleKind::kHairpin6, kHairpinSet6, "", false},
          {kPostroutingChain, RuleKind::kMasqAll4, kMasqAllSet4, "", false},
          {kPostroutingChain, RuleKind::kMasqAll6, kMasqAllSet6, "", false},
          {kPostroutingChain, RuleKind::kMasqLocalhost, "", "", false}};
}

size_t rules_in(const TableContents& have, const std::string& chain) {
  auto it = have.rules.find(chain);
  return it == have.rules.end() ? 0 : it->second;
}

}  // namespace

void add_missing_objects(NftTransaction& tx, const std::optional<TableContents>& existing,
                         const std::set<std::string>& networks) {
  TableContents have = existing.value_or(TableContents{});
  if (!existing) tx.add_table();
  // Every network the table holds (both of its chains present), and the ones asked for.
  std::set<std::string> all = networks, present;
  for (const auto& c : have.chains) {
    if (!is_reserved_name(c) && have.chains.count(NetworkLayout{c}.hostip_chain())) present.insert(c);
  }
  all.insert(present.begin(), present.end());

  auto need_set = [&](const std::string& name, SetKind kind) {
    if (!have.sets.count(name)) tx.add_set({name, kind});
  };
  need_set(kPortSet, SetKind::kPortSet);
  need_set(kPortSet4, SetKind::kPortSet4);
  need_set(kPortSet6, SetKind::kPortSet6);
  need_set(kHairpinSet4, SetKind::kAddrSet4);
  need_set(kHairpinSet6, SetKind::kAddrSet6);
  need_set(kMasqAllSet4, SetKind::kAddrSet4);
  need_set(kMasqAllSet6, SetKind::kAddrSet6);
  for (const auto& n : all) {
    NetworkLayout net{n};
    need_set(net.exclude_set(), SetKind::kIfnameSet);
    need_set(net.v4_map(), SetKind::kMapV4);
    need_set(net.v6_map(), SetKind::kMapV6);
    need_set(net.v4_bound_map(), SetKind::kMapV4Bound);
    need_set(net.v6_bound_map(), SetKind::kMapV6Bound);
  }

  // A chain is made whole by creating it, or, when it holds fewer rules than the layout gives it
  // (someone flushed it, or deleted a rule), by flushing it and adding them all again. Rules are
  // added only with a chain made whole in this batch, so no chain is ever given its rules twice.
  std::vector<NftRule> rules;
  auto whole = [&](const NftChain& c, const std::vector<NftRule>& want, size_t enough) {
    if (!have.chains.count(c.name)) {
      tx.add_chain(c);
    } else if (rules_in(have, c.name) >= enough) {
      return false;
    } else {
      tx.flush_chain(c.name);
    }
    rules.insert(rules.end(), want.begin(), want.end());
    return true;
  };
  for (const auto& n : all) {
    NetworkLayout net{n};
    whole({net.hostip_chain(), std::nullopt, 0, false}, network_rules(net, true), 4);
    whole({net.chain, std::nullopt, 0, false}, network_rules(net, false), 4);
  }
  // The base chains jump to every network's chains for packets to a local address (traffic routed
  // through the node is never translated); every network's host-IP-bound mappings come before any
  // network's unbound ones, so a binding wins for its address.
  for (const auto& [name, hook] : kBaseChains) {
    std::vector<NftRule> jumps;
    jumps.reserve(2 * all.size());
    for (const auto& n : all) jumps.push_back({name, RuleKind::kJump, "", NetworkLayout{n}.hostip_chain(), false});
    for (const auto& n : all) jumps.push_back({name, RuleKind::kJump, "", n, false});
    if (whole({name, hook, -100, false}, jumps, 2 * present.size())) continue;  // dstnat
    // Whole already: the networks new to it get their jumps, the host-IP one at the head.
    for (const auto& n : all) {
      if (present.count(n)) continue;
      rules.push_back({name, RuleKind::kJump, "", NetworkLayout{n}.hostip_chain(), /*at_head=*/true});
      rules.push_back({name, RuleKind::kJump, "", n, /*at_head=*/false});
    }
  }
  whole({kPostroutingChain, Hook::kPostrouting, 100, false}, postrouting_rules(), 5);  // srcnat
  whole({kGuardChain, Hook::kPrerouting, -300, true}, {{kGuardChain, RuleKind::kLocalnetGuard, "", "", false}}, 1);
  for (auto& r : rules) tx.add_rule(std::move(r));
}

void add_missing_objects(NftTransaction& tx, const std::optional<TableContents>& existing, const NetworkLayout& net) {
  add_missing_objects(tx, existing, std::set<std::string>{net.chain});
}

namespace {

void put_padded(Bytes& b, const void* p, size_t n) {
  size_t at = b.size();
  b.resize(at + ((n + 3) & ~size_t{3}), 0);
  std::memcpy(b.data() + at, p, n);
}

void put_proto_port(Bytes& b, Protocol proto, uint16_t port) {
  auto p = static_cast<uint8_t>(proto);
  uint16_t be = htons(port);
  put_padded(b, &p, 1);
  put_padded(b, &be, 2);
}

}  // namespace

Bytes encode_key(Protocol proto, uint16_t port) {
  Bytes b;
  put_proto_port(b, proto, port);
  return b;
}

Bytes encode_bound_key(const in_addr& host, Protocol proto, uint16_t port) {
  Bytes b;
  put_padded(b, &host, 4);
  put_proto_port(b, proto, port);
  return b;
}

Bytes encode_bound_key(const in6_addr& host, Protocol proto, uint16_t port) {
  Bytes b;
  put_padded(b, &host, 16);
  put_proto_port(b, proto, port);
  return b;
}

Bytes encode_ifname(const std::string& ifname) {
  Bytes b(16, 0);  // IFNAMSIZ, NUL-padded as the kernel compares it
  std::memcpy(b.data(), ifname.data(), std::min<size_t>(ifname.size(), 15));
  return b;
}

Bytes encode_addr(const in_addr& addr) {
  Bytes b;
  put_padded(b, &addr, 4);
  return b;
}

Bytes encode_addr(const in6_addr& addr) {
  Bytes b;
  put_padded(b, &addr, 16);
  return b;
}

Bytes encode_v4_target(const in_addr& addr, uint16_t port) {
  Bytes b;
  uint16_t be = htons(port);
  put_padded(b, &addr, 4);
  put_padded(b, &be, 2);
  return b;
}

Bytes encode_v6_target(const in6_addr& addr, uint16_t port) {
  Bytes b;
  uint16_t be = htons(port);
  put_padded(b, &addr, 16);
  put_padded(b, &be, 2);
  return b;
}

std::optional<DecodedKey> decode_key(const Bytes& key) {
  size_t addr_len = key.size() == 8 ? 0 : key.size() == 12 ? 4 : key.size() == 24 ? 16 : 99;
  if (addr_len == 99) return std::nullopt;
  DecodedKey k{key[addr_len], 0, {}};
  uint16_t be;
  std::memcpy(&be, key.data() + addr_len + 4, 2);
  k.port = ntohs(be);
  if (addr_len) {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(addr_len == 4 ? AF_INET : AF_INET6, key.data(), buf, sizeof buf);
    k.host_ip = buf;
  }
  return k;
}

std::string describe_key(const Bytes& key) {
  auto k = decode_key(key);
  if (!k) return "?";
  std::string port = protocol_name(k->proto) + "/" + std::to_string(k->port);
  if (k->host_ip.empty()) return port;
  return port + " on " + (k->host_ip.find(':') != std::string::npos ? "[" + k->host_ip + "]" : k->host_ip);
}

std::optional<DecodedTarget> decode_target(const Bytes& data) {
  DecodedTarget t{};
  uint16_t be;
  if (data.size() == 8) {
    t.family = AF_INET;
    std::memcpy(&t.addr, data.data(), 4);
    std::memcpy(&be, data.data() + 4, 2);
  } else if (data.size() == 20) {
    t.family = AF_INET6;
    std::memcpy(&t.addr, data.data(), 16);
    std::memcpy(&be, data.data() + 16, 2);
  } else {
    return std::nullopt;
  }
  t.port = ntohs(be);
  return t;
}

std::string describe_target(const Bytes& data) {
  auto t = decode_target(data);
  if (!t) return {};
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(t->family, &t->addr, buf, sizeof buf);
  if (t->family == AF_INET) return std::string(buf) + ":" + std::to_string(t->port);
  return "[" + std::string(buf) + "]:" + std::to_string(t->port);
}

}  // namespace nftpm
