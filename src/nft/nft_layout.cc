#include <arpa/inet.h>
#include <cstring>

#include "nftpm/layout.h"

namespace nftpm {

bool is_reserved_name(const std::string& chain) {
  return chain == kDispatchMap || chain == kPreroutingChain || chain == kOutputChain || chain == "postrouting";
}

void add_missing_objects(NftTransaction& tx, const std::optional<TableContents>& existing,
                         const NetworkLayout& net) {
  TableContents have = existing.value_or(TableContents{});
  if (!existing) tx.add_table();
  auto need_set = [&](const std::string& name, SetKind kind) {
    if (!have.sets.count(name)) tx.add_set({name, kind});
  };
  need_set(kDispatchMap, SetKind::kVerdictMap);
  need_set(net.exclude_set(), SetKind::kIfnameSet);
  need_set(net.v4_map(), SetKind::kMapV4);
  need_set(net.v6_map(), SetKind::kMapV6);

  if (!have.chains.count(net.chain)) {
    tx.add_chain({net.chain, std::nullopt});
    tx.add_rule({net.chain, RuleKind::kExclude, net.exclude_set()});
    tx.add_rule({net.chain, RuleKind::kDnatV4, net.v4_map()});
    tx.add_rule({net.chain, RuleKind::kDnatV6, net.v6_map()});
  }
  for (auto [name, hook] : {std::pair{kPreroutingChain, Hook::kPrerouting}, std::pair{kOutputChain, Hook::kOutput}}) {
    if (have.chains.count(name)) continue;
    tx.add_chain({name, hook});
    tx.add_rule({name, RuleKind::kDispatch, kDispatchMap});
  }
}

namespace {

void put_u32_padded(Bytes& b, const void* p, size_t n) {
  size_t at = b.size();
  b.resize(at + ((n + 3) & ~size_t{3}), 0);
  std::memcpy(b.data() + at, p, n);
}

}  // namespace

Bytes encode_key(Protocol proto, uint16_t port) {
  Bytes b;
  auto p = static_cast<uint8_t>(proto);
  uint16_t be = htons(port);
  put_u32_padded(b, &p, 1);
  put_u32_padded(b, &be, 2);
  return b;
}

Bytes encode_ifname(const std::string& ifname) {
  Bytes b(16, 0);  // IFNAMSIZ, NUL-padded as the kernel compares it
  std::memcpy(b.data(), ifname.data(), std::min<size_t>(ifname.size(), 15));
  return b;
}

Bytes encode_v4_target(const in_addr& addr, uint16_t port) {
  Bytes b;
  uint16_t be = htons(port);
  put_u32_padded(b, &addr, 4);
  put_u32_padded(b, &be, 2);
  return b;
}

Bytes encode_v6_target(const in6_addr& addr, uint16_t port) {
  Bytes b;
  uint16_t be = htons(port);
  put_u32_padded(b, &addr, 16);
  put_u32_padded(b, &be, 2);
  return b;
}

std::optional<DecodedKey> decode_key(const Bytes& key) {
  if (key.size() != 8) return std::nullopt;
  uint16_t be;
  std::memcpy(&be, key.data() + 4, 2);
  return DecodedKey{key[0], ntohs(be)};
}

std::string describe_target(const Bytes& data) {
  char buf[INET6_ADDRSTRLEN];
  uint16_t be;
  if (data.size() == 8) {
    std::memcpy(&be, data.data() + 4, 2);
    inet_ntop(AF_INET, data.data(), buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(ntohs(be));
  }
  if (data.size() == 20) {
    std::memcpy(&be, data.data() + 16, 2);
    inet_ntop(AF_INET6, data.data(), buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(be));
  }
  return {};
}

}  // namespace nftpm
