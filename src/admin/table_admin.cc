#include "nftpm/table_admin.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <tuple>

#include "nftpm/layout.h"
#include "nftpm/mapping_table.h"

namespace nftpm {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The sets that hold owned elements: the table's own and every network's maps.
Result<std::vector<std::string>> owned_sets(Nftables& nft) {
  auto have = nft.list_table(kTableName);
  if (!have) return have.take_error();
  std::vector<std::string> out;
  if (!*have) return out;
  for (const auto& s : (*have)->sets) {
    if (!ends_with(s, "-excl")) out.push_back(s);
  }
  return out;
}

}  // namespace

std::optional<MappingView> view_of(const NftElement& e, const std::string& chain) {
  auto k = decode_key(e.key);
  auto t = decode_target(e.data);
  if (!k || !t) return std::nullopt;
  MappingView v;
  v.protocol = protocol_name(k->proto);
  v.host_ip = k->host_ip;
  v.host_port = k->port;
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(t->family, &t->addr, buf, sizeof buf);
  v.container_ip = buf;
  v.container_port = t->port;
  v.family = t->family == AF_INET ? 4 : 6;
  v.chain = chain;
  v.owner = OwnerTag::decode(e.comment);
  v.comment = e.comment;
  return v;
}

Result<std::vector<MappingView>> list_mappings(Nftables& nft) {
  auto sets = owned_sets(nft);
  if (!sets) return sets.take_error();
  std::vector<MappingView> out;
  for (const auto& set : *sets) {
    // The network maps: <chain>-v4, -v6, -v4b, -v6b; their elements are the mappings.
    std::string chain;
    for (const char* suffix : {"-v4", "-v6", "-v4b", "-v6b"}) {
      if (ends_with(set, suffix)) chain = set.substr(0, set.size() - std::strlen(suffix));
    }
    if (chain.empty()) continue;
    auto elems = nft.list_elements(kTableName, set);
    if (!elems) return elems.take_error();
    for (const auto& e : *elems) {
      if (auto v = view_of(e, chain)) out.push_back(std::move(*v));
    }
  }
  std::sort(out.begin(), out.end(), [](const MappingView& a, const MappingView& b) {
    return std::tie(a.host_port, a.protocol, a.host_ip, a.family) <
           std::tie(b.host_port, b.protocol, b.host_ip, b.family);
  });
  return out;
}

Result<std::vector<NftElement>> remove_owned_where(Nftables& nft, const std::function<bool(const OwnerTag&)>& select) {
  return remove_guarded(nft, [&]() -> Result<std::vector<NftElement>> {
    auto sets = owned_sets(nft);
    if (!sets) return sets.take_error();
    std::vector<NftElement> picked;
    for (const auto& set : *sets) {
      auto elems = nft.list_elements(kTableName, set);
      if (!elems) return elems.take_error();
      for (auto& e : *elems) {
        auto o = OwnerTag::decode(e.comment);
        if (o && select(*o)) picked.push_back(std::move(e));
      }
    }
    return picked;
  });
}

Result<size_t> count_owned(Nftables& nft) {
  auto sets = owned_sets(nft);
  if (!sets) return sets.take_error();
  size_t n = 0;
  for (const auto& set : *sets) {
    auto elems = nft.list_elements(kTableName, set);
    if (!elems) return elems.take_error();
    for (const auto& e : *elems) n += OwnerTag::decode(e.comment) ? 1 : 0;
  }
  return n;
}

Status uninstall_table(Nftables& nft, bool force) {
  auto gen = nft.generation();
  if (!gen) return gen.take_error();
  auto n = count_owned(nft);
  if (!n) return n.take_error();
  if (*n > 0 && !force) {
    return Error(ErrorCode::kInvalidConfig,
                 "table inet " + std::string(kTableName) + " still holds " + std::to_string(*n) + " mapping elements",
                 "remove the containers first (DEL, or `nft-port-mapper remove`), or pass --force");
  }
  auto have = nft.list_table(kTableName);
  if (!have) return have.take_error();
  if (!*have) return ok_status();
  NftTransaction tx(kTableName);
  tx.delete_table();
  auto out = nft.commit(tx, force ? std::nullopt : std::optional<uint32_t>(*gen));
  if (!out) return out.take_error();
  if (out->error == 0 || out->error == ENOENT) return ok_status();
  if (out->error == ERESTART) {
    return Error(ErrorCode::kTryAgainLater, "the ruleset changed while uninstalling: a mapping may have been added");
  }
  return Error(ErrorCode::kNftablesFailure, std::string("deleting the table: ") + std::strerror(out->error));
}

}  // namespace nftpm
