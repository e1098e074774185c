// Read-check-write on nftables, safe against other plugin processes:
// - ADD first tries the plain batch (create elements with NLM_F_EXCL). The kernel itself refuses a
//   host port that is taken (EEXIST/EBUSY) and a missing table (ENOENT); only then do we read.
// - Every batch that depends on what we read carries the generation we read it at; ERESTART
//   means another process committed in between, so we read again and retry.
#include <cerrno>
#include <cstring>

#include "nftpm/mapping_table.h"

namespace nftpm {

namespace {

Error nft_failure(const std::string& what, int err) {
  return Error(ErrorCode::kNftablesFailure, what + ": " + std::strerror(err));
}

std::string describe_mapping(const NftElement& e) {
  auto k = decode_key(e.key);
  if (!k) return "?";
  const char* p = k->proto == 6 ? "tcp" : k->proto == 17 ? "udp" : k->proto == 132 ? "sctp" : "?";
  return std::string(p) + "/" + std::to_string(k->port);
}

}  // namespace

MappingTable::Wanted MappingTable::wanted_elements(const OwnerTag& owner, const std::vector<PortMapping>& mappings,
                                                   const ContainerAddrs& addrs) const {
  Wanted w;
  std::string tag = owner.encode();
  for (const auto& m : mappings) {
    Bytes key = encode_key(m.protocol, m.host_port);
    w.dispatch.push_back({kDispatchMap, key, {}, layout_.chain, tag});
    if (addrs.v4) w.v4.push_back({layout_.v4_map(), key, encode_v4_target(*addrs.v4, m.container_port), {}, tag});
    if (addrs.v6) w.v6.push_back({layout_.v6_map(), key, encode_v6_target(*addrs.v6, m.container_port), {}, tag});
  }
  return w;
}

Status MappingTable::add(const OwnerTag& owner, const std::vector<PortMapping>& mappings, const ContainerAddrs& addrs) {
  if (mappings.empty()) return ok_status();
  Wanted w = wanted_elements(owner, mappings, addrs);
  std::vector<NftElement> excluded;
  for (const auto& d : exclude_devices_) excluded.push_back({layout_.exclude_set(), encode_ifname(d), {}, {}, {}});

  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    // Fast path: the layout exists, the ports are free. No read at all.
    NftTransaction tx(kTableName);
    std::optional<uint32_t> genid;
    if (attempt > 0) {
      // We come back here after ENOENT: create what is missing, guarded by the generation so two
      // processes never both add the same rules.
      auto gen = nft_.generation();
      if (!gen) return gen.take_error();
      auto have = nft_.list_table(kTableName);
      if (!have) return have.take_error();
      genid = *gen;
      add_missing_objects(tx, *have, layout_);
    }
    tx.add_elements(excluded);
    tx.create_elements(w.dispatch);
    tx.create_elements(w.v4);
    tx.create_elements(w.v6);
    auto out = nft_.commit(tx, genid);
    if (!out) return out.take_error();
    switch (out->error) {
      case 0: return ok_status();
      case ENOENT:
        // Table, chain or map missing: create them. Missing after we created what we read was
        // missing is not a race (that would be ERESTART): something else is wrong.
        if (genid) return nft_failure("creating the port mapper's table inet " + std::string(kTableName), ENOENT);
        continue;
      case ERESTART: continue;   // someone committed between our read and our write
      case EEXIST:
      case EBUSY: {
        bool only_own = false;
        if (auto s = explain_conflict(owner, w, &only_own); !s) return s;
        if (!only_own) continue;  // it went away meanwhile: try again
        auto r = replace_own(owner, w);
        if (!r && r.error().code == ErrorCode::kTryAgainLater) continue;
        return r;
      }
      default:
        return nft_failure("adding port mappings to table inet " + std::string(kTableName), out->error);
    }
  }
  return Error(ErrorCode::kTryAgainLater, "the nftables ruleset kept changing while adding port mappings",
               "gave up after " + std::to_string(kMaxAttempts) + " attempts");
}

// Finds who holds the ports we asked for. Another owner is a conflict error; our own leftovers
// (an ADD repeated after a crash) are reported through *only_own_leftovers for replacement.
Status MappingTable::explain_conflict(const OwnerTag& owner, const Wanted& w, bool* only_own_leftovers) {
  *only_own_leftovers = false;
  bool any = false;
  for (const auto* list : {&w.dispatch, &w.v4, &w.v6}) {
    for (const auto& e : *list) {
      auto have = nft_.get_element(kTableName, e.set, e.key);
      if (!have) return have.take_error();
      if (!*have) continue;
      any = true;
      auto holder = OwnerTag::decode((*have)->comment);
      if (holder && *holder == owner) continue;
      std::string who = holder ? "container " + holder->container_id + " (network " + holder->network +
                                     ", interface " + holder->ifname + ")"
                               : "an element not made by this plugin (comment \"" + (*have)->comment + "\")";
      std::string target = describe_target((*have)->data);
      return Error(ErrorCode::kPortConflict,
                   "host port " + describe_mapping(e) + " is already mapped by " + who,
                   target.empty() ? "" : "it points at " + target);
    }
  }
  *only_own_leftovers = any;
  return ok_status();
}

// Replaces the owner's own elements for these keys with the wanted ones, atomically.
Status MappingTable::replace_own(const OwnerTag& owner, const Wanted& w) {
  auto gen = nft_.generation();
  if (!gen) return gen.take_error();
  NftTransaction tx(kTableName);
  std::vector<NftElement> stale;
  for (const auto* list : {&w.dispatch, &w.v4, &w.v6}) {
    for (const auto& e : *list) {
      auto have = nft_.get_element(kTableName, e.set, e.key);
      if (!have) return have.take_error();
      if (!*have) continue;
      auto holder = OwnerTag::decode((*have)->comment);
      if (!holder || !(*holder == owner)) return Error(ErrorCode::kTryAgainLater, "owner changed");
      stale.push_back(**have);
    }
  }
  tx.delete_elements(stale);
  tx.create_elements(w.dispatch);
  tx.create_elements(w.v4);
  tx.create_elements(w.v6);
  auto out = nft_.commit(tx, *gen);
  if (!out) return out.take_error();
  if (out->error == 0) return ok_status();
  if (out->error == ERESTART || out->error == ENOENT || out->error == EEXIST || out->error == EBUSY) {
    return Error(ErrorCode::kTryAgainLater, "ruleset changed");
  }
  return nft_failure("replacing port mappings in table inet " + std::string(kTableName), out->error);
}

Status MappingTable::remove(const OwnerTag& owner, const std::optional<std::vector<PortMapping>>& mappings) {
  std::string tag = owner.encode();
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    auto gen = nft_.generation();
    if (!gen) return gen.take_error();
    std::vector<NftElement> owned;
    auto consider = [&](const NftElement& e) {
      // The owner is compared whole: P never matches P.C, net a never matches net ab.
      if (e.comment == tag) owned.push_back(e);
    };
    if (mappings) {
      for (const auto& m : *mappings) {
        Bytes key = encode_key(m.protocol, m.host_port);
        for (const std::string& set : {std::string(kDispatchMap), layout_.v4_map(), layout_.v6_map()}) {
          auto have = nft_.get_element(kTableName, set, key);
          if (!have) return have.take_error();
          if (*have) consider(**have);
        }
      }
    } else {
      for (const std::string& set : {std::string(kDispatchMap), layout_.v4_map(), layout_.v6_map()}) {
        auto all = nft_.list_elements(kTableName, set);
        if (!all) return all.take_error();
        for (const auto& e : *all) consider(e);
      }
    }
    if (owned.empty()) return ok_status();
    NftTransaction tx(kTableName);
    tx.delete_elements(owned);
    auto out = nft_.commit(tx, *gen);
    if (!out) return out.take_error();
    if (out->error == 0) return ok_status();
    if (out->error == ERESTART || out->error == ENOENT) continue;
    return nft_failure("removing port mappings from table inet " + std::string(kTableName), out->error);
  }
  return Error(ErrorCode::kTryAgainLater, "the nftables ruleset kept changing while removing port mappings");
}

Status MappingTable::check(const OwnerTag& owner, const std::vector<PortMapping>& mappings, const ContainerAddrs& addrs) {
  Wanted w = wanted_elements(owner, mappings, addrs);
  for (const auto* list : {&w.dispatch, &w.v4, &w.v6}) {
    for (const auto& e : *list) {
      auto have = nft_.get_element(kTableName, e.set, e.key);
      if (!have) return have.take_error();
      std::string what = "port mapping " + describe_mapping(e) + " in " + e.set;
      if (!*have) return Error(ErrorCode::kNftablesFailure, what + " is missing");
      if ((*have)->comment != e.comment) {
        return Error(ErrorCode::kNftablesFailure, what + " belongs to another owner",
                     "expected \"" + e.comment + "\", found \"" + (*have)->comment + "\"");
      }
      if (!(*have)->same_value(e)) {
        return Error(ErrorCode::kNftablesFailure, what + " points at the wrong target",
                     "expected " + (e.goto_chain.empty() ? describe_target(e.data) : e.goto_chain) + ", found " +
                         ((*have)->goto_chain.empty() ? describe_target((*have)->data) : (*have)->goto_chain));
      }
    }
  }
  return ok_status();
}

}  // namespace nftpm
