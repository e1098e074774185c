// Read-check-write on nftables, safe against other plugin processes:
// - ADD first tries the plain batch (create elements with NLM_F_EXCL). The kernel itself refuses a
//   host port that is taken (EEXIST/EBUSY) and a missing table (ENOENT); only then do we read.
// - Every batch that depends on what we read carries the generation we read it at; ERESTART
//   means another process committed in between, so we read again and retry.
#include "nftpm/mapping_table.h"

#include <cerrno>
#include <cstring>

namespace nftpm {

namespace {

Error nft_failure(const std::string& what, int err) {
  return Error(ErrorCode::kNftablesFailure, what + ": " + std::strerror(err));
}

Error try_again(const std::string& what) {
  return Error(ErrorCode::kTryAgainLater, "the nftables ruleset kept changing while " + what,
               "gave up after " + std::to_string(MappingTable::kMaxAttempts) + " attempts");
}

std::string holder_text(const NftElement& have) {
  auto holder = OwnerTag::decode(have.comment);
  if (!holder) return "an element not made by this plugin (comment \"" + have.comment + "\")";
  return "container " + holder->container_id + " (network " + holder->network + ", interface " + holder->ifname + ")";
}

bool is_address_set(const std::string& set) {
  return set == kHairpinSet4 || set == kHairpinSet6 || set == kMasqAllSet4 || set == kMasqAllSet6;
}

// Where a mapping lives, all under one key: its claim, and the network's map of each family the
// key can serve (empty: none). ADD, DEL and CHECK all find a mapping's elements through this.
struct MappingKey {
  const char* claim_set = nullptr;
  Bytes key;
  std::string v4_map, v6_map;
  bool bound = false;  // to a host IP, and so to that IP's family only
};

std::optional<MappingKey> mapping_key(const PortMapping& m, const NetworkLayout& layout) {
  if (m.host_ip.empty()) {
    return MappingKey{kPortSet, encode_key(m.protocol, m.host_port), layout.v4_map(), layout.v6_map()};
  }
  if (m.host_ip.family() == AF_INET) {
    return MappingKey{
        kPortSet4, encode_bound_key(m.host_ip.v4(), m.protocol, m.host_port), layout.v4_bound_map(), {}, true};
  }
  if (m.host_ip.family() == AF_INET6) {
    return MappingKey{
        kPortSet6, encode_bound_key(m.host_ip.v6(), m.protocol, m.host_port), {}, layout.v6_bound_map(), true};
  }
  return std::nullopt;
}

}  // namespace

MappingTable::Wanted MappingTable::wanted_elements(const OwnerTag& owner, const std::vector<PortMapping>& mappings,
                                                   const ContainerAddrs& addrs) const {
  Wanted w;
  std::string tag = owner.encode();
  std::set<std::pair<std::string, Bytes>> claimed;  // 0.0.0.0:P and [::]:P together claim P once
  for (const auto& m : mappings) {
    auto k = mapping_key(m, layout_);
    if (!k) continue;
    // A host IP binds the mapping to its family; an unspecified hostIP of one family maps that
    // family only. Either maps nothing when the container has no address of it (as the reference
    // plugin skips it); no hostIP at all still claims the port.
    bool v4 = addrs.v4 && !k->v4_map.empty() && (k->bound || m.host_family != AF_INET6);
    bool v6 = addrs.v6 && !k->v6_map.empty() && (k->bound || m.host_family != AF_INET);
    if (!v4 && !v6 && (k->bound || m.host_family != AF_UNSPEC)) continue;
    if (claimed.insert({k->claim_set, k->key}).second) w.ports.push_back({k->claim_set, k->key, {}, tag});
    if (v4) w.ports.push_back({k->v4_map, k->key, encode_v4_target(*addrs.v4, m.container_port), tag});
    if (v6) w.ports.push_back({k->v6_map, k->key, encode_v6_target(*addrs.v6, m.container_port), tag});
  }
  if (!w.ports.empty()) {
    auto add_addr = [&](const char* set, const Bytes& key) { w.addresses.push_back({set, key, {}, tag}); };
    if (options_.hairpin && addrs.v4) add_addr(kHairpinSet4, encode_addr(*addrs.v4));
    if (options_.hairpin && addrs.v6) add_addr(kHairpinSet6, encode_addr(*addrs.v6));
    if (options_.masq_all && addrs.v4) add_addr(kMasqAllSet4, encode_addr(*addrs.v4));
    if (options_.masq_all && addrs.v6) add_addr(kMasqAllSet6, encode_addr(*addrs.v6));
  }
  return w;
}

Status MappingTable::add(const OwnerTag& owner, const std::vector<PortMapping>& mappings, const ContainerAddrs& addrs) {
  Wanted w = wanted_elements(owner, mappings, addrs);
  if (w.ports.empty()) return ok_status();
  std::vector<NftElement> excluded;
  for (const auto& d : exclude_devices_) excluded.push_back({layout_.exclude_set(), encode_ifname(d), {}, {}});

  bool create_layout = false;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    // Fast path: the layout exists, the ports are free: no read at all.
    NftTransaction tx(kTableName);
    std::optional<uint32_t> genid;
    if (create_layout) {
      // Create what is missing, guarded by the generation so two processes never both add the
      // same rules.
      auto gen = nft_.generation();
      if (!gen) return gen.take_error();
      auto have = nft_.list_table(kTableName);
      if (!have) return have.take_error();
      genid = *gen;
      add_missing_objects(tx, *have, layout_);
    }
    tx.add_elements(excluded);
    tx.create_elements(w.ports);
    tx.create_elements(w.addresses);
    auto out = nft_.commit(tx, genid);
    if (!out) return out.take_error();
    switch (out->error) {
      case 0: return ok_status();
      case ENOENT:
        // Missing after we created what we read was missing is not a race (that would be
        // ERESTART): something else is wrong.
        if (genid) return nft_failure("creating the table inet " + std::string(kTableName), ENOENT);
        create_layout = true;
        continue;
      case ERESTART: continue;
      case EEXIST:
      case EBUSY: {
        auto s = resolve_conflict(owner, w);
        if (s) return s;
        if (s.error().code != ErrorCode::kTryAgainLater) return s;
        continue;
      }
      default: return nft_failure("adding port mappings to table inet " + std::string(kTableName), out->error);
    }
  }
  return try_again("adding port mappings");
}

// Someone holds some of our keys. A port held by another owner is a conflict, reported with the
// holder's name; our own leftovers (an ADD repeated after a crash) and addresses left by a gone
// container are replaced, atomically and guarded by the generation (kTryAgainLater: go round).
Status MappingTable::resolve_conflict(const OwnerTag& owner, const Wanted& w) {
  auto gen = nft_.generation();
  if (!gen) return gen.take_error();
  std::string tag = owner.encode();
  std::vector<NftElement> stale;
  for (const auto* list : {&w.ports, &w.addresses}) {
    auto found = nft_.get_elements(kTableName, *list);
    if (!found) return found.take_error();
    for (size_t i = 0; i < list->size(); ++i) {
      auto& have = (*found)[i];
      if (!have) continue;
      if (have->comment != tag && list == &w.ports) {
        std::string target = describe_target(have->data);
        return Error(ErrorCode::kPortConflict,
                     "host port " + describe_key((*list)[i].key) + " is already mapped by " + holder_text(*have),
                     target.empty() ? "" : "it points at " + target);
      }
      stale.push_back(std::move(*have));
    }
  }
  NftTransaction tx(kTableName);
  tx.delete_elements(stale);
  tx.create_elements(w.ports);
  tx.create_elements(w.addresses);
  auto out = nft_.commit(tx, *gen);
  if (!out) return out.take_error();
  if (out->error == 0) return ok_status();
  if (out->error == ERESTART || out->error == ENOENT || out->error == EEXIST || out->error == EBUSY) {
    return Error(ErrorCode::kTryAgainLater, "ruleset changed");
  }
  return nft_failure("replacing port mappings in table inet " + std::string(kTableName), out->error);
}

Result<std::vector<NftElement>> MappingTable::remove(const OwnerTag& owner,
                                                     const std::optional<std::vector<PortMapping>>& mappings,
                                                     const ContainerAddrs* installed_families) {
  std::string tag = owner.encode();
  // The owner is compared whole: P never matches P.C, network a never matches network ab.
  if (!mappings) {
    return remove_guarded(nft_, [&] { return scan([&](const NftElement& e) { return e.comment == tag; }); });
  }

  return remove_guarded(nft_, [&]() -> Result<std::vector<NftElement>> {
    std::vector<NftElement> owned;
    // Looks up every (set, key) of `refs` at once and keeps what this owner holds.
    auto take = [&](const std::vector<NftElement>& refs) -> Status {
      auto have = nft_.get_elements(kTableName, refs);
      if (!have) return have.take_error();
      for (auto& e : *have) {
        if (e && e->comment == tag) owned.push_back(std::move(*e));
      }
      return ok_status();
    };
    std::set<std::pair<std::string, Bytes>> looked_up;
    std::vector<NftElement> refs;
    for (const auto& m : *mappings) {
      // Every family the key can serve, whatever the mapping's: what is there under it is looked at.
      auto k = mapping_key(m, layout_);
      if (!k) continue;
      if (installed_families && !installed_families->v4) k->v4_map.clear();
      if (installed_families && !installed_families->v6) k->v6_map.clear();
      for (const std::string& set : {std::string(k->claim_set), k->v4_map, k->v6_map}) {
        // 0.0.0.0:P and [::]:P share keys
        if (!set.empty() && looked_up.insert({set, k->key}).second) refs.push_back({set, k->key, {}, {}});
      }
    }
    NFTPM_TRY(take(refs));
    // The container's addresses, learnt from its mappings' targets, key its address elements.
    std::set<Bytes> addrs;
    for (const auto& e : owned) {
      if (auto t = decode_target(e.data)) {
        addrs.insert(Bytes(e.data.begin(), e.data.begin() + (t->family == AF_INET ? 4 : 16)));
      }
    }
    refs.clear();
    for (const auto& a : addrs) {
      bool v4 = a.size() == 4;
      refs.push_back({v4 ? kHairpinSet4 : kHairpinSet6, a, {}, {}});
      refs.push_back({v4 ? kMasqAllSet4 : kMasqAllSet6, a, {}, {}});
    }
    NFTPM_TRY(take(refs));
    return owned;
  });
}

Result<std::vector<NftElement>> MappingTable::gc(const std::string& network, const Attachments& valid) {
  return remove_guarded(nft_, [&] {
    return scan([&](const NftElement& e) {
      auto o = OwnerTag::decode(e.comment);
      return o && o->network == network && !valid.count({o->container_id, o->ifname});
    });
  });
}

Result<std::vector<NftElement>> MappingTable::scan(const std::function<bool(const NftElement&)>& select) {
  std::vector<std::string> sets = global_owned_sets();
  for (auto& s : network_owned_sets(layout_)) sets.push_back(s);
  std::vector<NftElement> picked;
  for (const auto& set : sets) {
    auto all = nft_.list_elements(kTableName, set);
    if (!all) return all.take_error();
    for (auto& e : *all) {
      if (select(e)) picked.push_back(std::move(e));
    }
  }
  return picked;
}

Result<std::vector<NftElement>> remove_guarded(Nftables& nft, const CollectElements& collect) {
  for (int attempt = 0; attempt < MappingTable::kMaxAttempts; ++attempt) {
    auto gen = nft.generation();
    if (!gen) return gen.take_error();
    auto picked = collect();
    if (!picked || picked->empty()) return picked;
    NftTransaction tx(kTableName);
    tx.delete_elements(*picked);
    auto out = nft.commit(tx, *gen);
    if (!out) return out.take_error();
    if (out->error == 0) return picked;
    if (out->error == ERESTART || out->error == ENOENT) continue;
    return nft_failure("removing port mappings from table inet " + std::string(kTableName), out->error);
  }
  return try_again("removing port mappings");
}

Status MappingTable::check(const OwnerTag& owner, const std::vector<PortMapping>& mappings,
                           const ContainerAddrs& addrs) {
  Wanted w = wanted_elements(owner, mappings, addrs);
  for (const auto* list : {&w.ports, &w.addresses}) {
    auto found = nft_.get_elements(kTableName, *list);
    if (!found) return found.take_error();
    for (size_t i = 0; i < list->size(); ++i) {
      const NftElement& e = (*list)[i];
      const auto& have = (*found)[i];
      std::string what = (is_address_set(e.set) ? "address element " : "port mapping ") +
                         (is_address_set(e.set) ? describe_element(e) : describe_key(e.key)) + " in " + e.set;
      if (!have) return Error(ErrorCode::kNftablesFailure, what + " is missing");
      if (have->comment != e.comment) {
        return Error(ErrorCode::kNftablesFailure, what + " belongs to another owner",
                     "expected \"" + e.comment + "\", found \"" + have->comment + "\"");
      }
      if (!have->same_value(e)) {
        return Error(ErrorCode::kNftablesFailure, what + " points at the wrong target",
                     "expected " + describe_target(e.data) + ", found " + describe_target(have->data));
      }
    }
  }
  return ok_status();
}

}  // namespace nftpm
