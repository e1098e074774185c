// Records against the kernel: restore, compare, and records rebuilt from the live ruleset.
//
// Why one batch for the whole restore, planned from set dumps: 100,000 recorded mappings must be
// back within a second. One dump per set and an in-memory plan cost a few hundred milliseconds;
// a lookup per element would cost seconds. The plan is committed with the generation it was read
// at, so a change in between (another flush, a plugin call of another state directory) makes the
// kernel refuse it, and the plan is made again from what is there now.
#include "nftpm/restore.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include "nftpm/layout.h"
#include "nftpm/mapping_table.h"

namespace nftpm {

namespace {

// Keys by their bytes, hashed: a plan for 100,000 mappings looks up and inserts 200,000 of them
// (in ordered maps, comparing set names and keys was a fifth of a restore's CPU).
struct BytesHash {
  size_t operator()(const Bytes& b) const noexcept {
    return std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
  }
};
using SetIndex = std::unordered_map<Bytes, NftElement, BytesHash>;
using ElementIndex = std::unordered_map<std::string, SetIndex>;

// Who claims each (set, key) among the records planned so far: per set, key -> the claiming
// record's tag (one copy of each tag, shared by its elements). Keys are held as strings, which
// keep keys of up to 15 bytes (all but IPv6-bound ones) without an allocation.
class Claims {
 public:
  // The tag holding (set, key); nullptr if none.
  const std::string* holder(const std::string& set, const Bytes& key) const {
    auto s = by_set_.find(set);
    if (s == by_set_.end()) return nullptr;
    auto k = s->second.find(text(key));
    return k == s->second.end() ? nullptr : k->second;
  }
  // Claims (set, key) for `tag` unless it is claimed already; true if it was not.
  bool claim(const std::string& set, const Bytes& key, const std::string& tag) {
    if (tags_.empty() || tags_.back() != tag) tags_.push_back(tag);
    return by_set_[set].emplace(text(key), &tags_.back()).second;
  }

 private:
  static std::string text(const Bytes& key) { return std::string(key.begin(), key.end()); }
  std::unordered_map<std::string, std::unordered_map<std::string, const std::string*>> by_set_;
  std::deque<std::string> tags_;  // stable addresses
};

std::string holder_text(const std::string& comment) {
  auto o = OwnerTag::decode(comment);
  if (!o) return "an element not made by this plugin (comment \"" + comment + "\")";
  return "container " + o->container_id + " (network " + o->network + ", interface " + o->ifname + ")";
}

std::string address_text(const Bytes& key) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (key.size() == 4 || key.size() == 16) inet_ntop(key.size() == 4 ? AF_INET : AF_INET6, key.data(), buf, sizeof buf);
  return buf;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Reads sets on demand, each once per plan.
class KernelView {
 public:
  KernelView(Nftables& nft, const std::optional<TableContents>& have) : nft_(nft), have_(have) {}

  Result<const SetIndex*> set(const std::string& name) {
    auto it = index_.find(name);
    if (it != index_.end()) return &it->second;
    auto& slot = index_[name];
    if (have_ && have_->sets.count(name)) {
      auto all = nft_.list_elements(kTableName, name);
      if (!all) return all.take_error();
      for (auto& e : *all) slot.emplace(e.key, std::move(e));
    }
    return &slot;
  }

 private:
  Nftables& nft_;
  const std::optional<TableContents>& have_;
  ElementIndex index_;
};

struct Plan {
  NftTransaction tx{kTableName};
  std::vector<OwnerTag> restored;
  size_t elements = 0;
  std::vector<std::pair<OwnerTag, std::string>> conflicts;
};

Result<Plan> make_plan(Nftables& nft, const std::vector<AttachmentRecord>& live,
                       const std::optional<TableContents>& have) {
  Plan plan;
  KernelView kernel(nft, have);

  // The table, base chains and every recorded network's objects that are missing, and every chain
  // someone flushed made whole again.
  std::set<std::string> chains;
  for (const auto& r : live) chains.insert(r.chain);
  if (!live.empty() || have) add_missing_objects(plan.tx, have, chains);

  std::map<std::string, std::vector<NftElement>> creates, deletes;
  Claims claimed;  // by the records planned so far
  std::set<std::pair<std::string, Bytes>> excluded;
  // Oldest first: of two records claiming a host port, the older holds it (record_store.h).
  std::vector<const AttachmentRecord*> by_age;
  by_age.reserve(live.size());
  for (const auto& r : live) by_age.push_back(&r);
  std::stable_sort(by_age.begin(), by_age.end(),
                   [](const auto* a, const auto* b) { return a->created_ns < b->created_ns; });
  for (const auto* rp : by_age) {
    const auto& r = *rp;
    NetworkLayout layout{r.chain};
    MappingTable table(nft, layout, r.exclude_devices, r.options);
    auto w = table.wanted_elements(r.owner, r.mappings, r.addrs);
    std::vector<NftElement> add, remove;
    std::string conflict;
    for (const auto& e : w.ports) {
      auto have_set = kernel.set(e.set);
      if (!have_set) return have_set.take_error();
      auto it = (*have_set)->find(e.key);
      if (it != (*have_set)->end()) {
        if (it->second.comment != e.comment) {
          conflict = "host port " + describe_key(e.key) + " is now mapped by " + holder_text(it->second.comment);
          break;
        }
        if (!it->second.same_value(e)) {
          remove.push_back(it->second);
          add.push_back(e);
        }
        continue;
      }
      const std::string* c = claimed.holder(e.set, e.key);
      if (c != nullptr && *c != e.comment) {
        conflict = "host port " + describe_key(e.key) + " is also recorded for " + holder_text(*c);
        break;
      }
      if (c == nullptr) add.push_back(e);
    }
    if (!conflict.empty()) {
      plan.conflicts.emplace_back(r.owner, conflict);
      continue;
    }
    for (const auto& e : w.ports) claimed.claim(e.set, e.key, e.comment);
    // Address elements only decide masquerading: whoever holds one, the effect is the same.
    for (const auto& e : w.addresses) {
      auto have_set = kernel.set(e.set);
      if (!have_set) return have_set.take_error();
      if ((*have_set)->count(e.key) || !claimed.claim(e.set, e.key, e.comment)) continue;
      add.push_back(e);
    }
    for (const auto& d : r.exclude_devices) {
      NftElement x{layout.exclude_set(), encode_ifname(d), {}, {}};
      auto have_set = kernel.set(x.set);
      if (!have_set) return have_set.take_error();
      if (!(*have_set)->count(x.key) && excluded.insert({x.set, x.key}).second) add.push_back(x);
    }
    if (add.empty()) continue;
    plan.restored.push_back(r.owner);
    plan.elements += add.size();
    for (auto& e : remove) deletes[e.set].push_back(std::move(e));
    for (auto& e : add) creates[e.set].push_back(std::move(e));
  }
  for (auto& [set, es] : deletes) plan.tx.delete_elements(std::move(es));
  for (auto& [set, es] : creates) {
    bool is_excl = ends_with(set, "-excl");
    if (is_excl) {
      plan.tx.add_elements(std::move(es));
    } else {
      plan.tx.create_elements(std::move(es));
    }
  }
  return plan;
}

}  // namespace

Result<RestoreReport> restore_records(Nftables& nft, RecordStore& store, const RestoreOptions& options) {
  RestoreReport report;
  auto lock = store.lock_exclusive();
  if (!lock) return lock.take_error();
  auto listing = store.load(options.network);
  if (!listing) return listing.take_error();
  report.bad = listing->bad;
  report.records = listing->live.size();

  // DELs that were interrupted: finish them (owner-checked, by the recorded keys), never restore.
  for (const auto& r : listing->deleting) {
    if (!options.dry_run) {
      MappingTable table(nft, NetworkLayout{r.chain}, r.exclude_devices, r.options);
      auto removed = table.remove(r.owner, r.mappings);
      if (!removed) return removed.take_error();
      NFTPM_TRY(store.erase(r.owner));
    }
    report.finished_deletes.push_back(r.owner);
  }
  if (!options.dry_run && !options.network) {
    (void)store.remove_stale_boot_dirs();  // never restored anyway: only space is at stake
  }

  for (int attempt = 0; attempt < MappingTable::kMaxAttempts; ++attempt) {
    auto gen = nft.generation();
    if (!gen) return gen.take_error();
    auto have = nft.list_table(kTableName);
    if (!have) return have.take_error();
    auto plan = make_plan(nft, listing->live, *have);
    if (!plan) return plan.take_error();
    report.restored = plan->restored;
    report.elements_added = plan->elements;
    report.conflicts = plan->conflicts;
    if (plan->tx.empty() || options.dry_run) return report;
    auto out = nft.commit(plan->tx, *gen);
    if (!out) return out.take_error();
    if (out->error == 0) {
      report.batches = 1;
      return report;
    }
    // The ruleset changed between the dumps and the commit: plan again from what is there now.
    if (out->error == ERESTART || out->error == EEXIST || out->error == EBUSY || out->error == ENOENT) continue;
    return Error(ErrorCode::kNftablesFailure,
                 std::string("restoring mappings in table inet ") + kTableName + ": " + std::strerror(out->error));
  }
  return Error(ErrorCode::kTryAgainLater, "the nftables ruleset kept changing while restoring",
               "gave up after " + std::to_string(MappingTable::kMaxAttempts) + " attempts");
}

Result<std::vector<std::string>> compare_with_kernel(Nftables& nft, const AttachmentRecord& r) {
  std::vector<std::string> problems;
  MappingTable table(nft, NetworkLayout{r.chain}, r.exclude_devices, r.options);
  auto w = table.wanted_elements(r.owner, r.mappings, r.addrs);
  for (const auto* list : {&w.ports, &w.addresses}) {
    for (const auto& e : *list) {
      auto have = nft.get_element(kTableName, e.set, e.key);
      if (!have) return have.take_error();
      std::string what = (list == &w.ports ? "mapping " + describe_key(e.key) : "address " + address_text(e.key)) +
                         (e.data.empty() ? "" : " -> " + describe_target(e.data)) + " (" + e.set + ")";
      if (!*have) {
        problems.push_back(what + " is missing");
      } else if ((*have)->comment != e.comment && list == &w.ports) {
        problems.push_back(what + " is held by " + holder_text((*have)->comment));
      } else if (!(*have)->same_value(e)) {
        problems.push_back(what + " points at the wrong target " + describe_target((*have)->data));
      }
    }
  }
  return problems;
}

Result<std::vector<AttachmentRecord>> records_from_ruleset(Nftables& nft, RecordStore& store,
                                                           const std::optional<std::string>& network) {
  std::vector<AttachmentRecord> out;
  auto have = nft.list_table(kTableName);
  if (!have) return have.take_error();
  if (!*have) return out;
  auto elements_of = [&](const std::string& set) -> Result<std::vector<NftElement>> {
    if (!(*have)->sets.count(set)) return std::vector<NftElement>();
    return nft.list_elements(kTableName, set);
  };

  struct Seen {
    AttachmentRecord rec;
    std::map<std::tuple<Protocol, uint16_t, std::string>, std::pair<uint16_t, int>> ports;  // -> port, families
  };
  std::map<std::string, Seen> by_owner;  // by comment
  for (const auto& set : (*have)->sets) {
    std::string chain;
    bool bound = false;
    for (const char* suffix : {"-v4", "-v6", "-v4b", "-v6b"}) {
      if (ends_with(set, suffix)) {
        chain = set.substr(0, set.size() - std::strlen(suffix));
        bound = std::string(suffix).back() == 'b';
      }
    }
    if (chain.empty()) continue;
    auto elems = elements_of(set);
    if (!elems) return elems.take_error();
    for (const auto& e : *elems) {
      auto owner = OwnerTag::decode(e.comment);
      auto k = decode_key(e.key);
      auto t = decode_target(e.data);
      if (!owner || !k || !t) continue;
      if (network && owner->network != *network) continue;
      auto p = protocol_from_number(k->proto);
      if (!p) continue;
      auto& seen = by_owner[e.comment];
      if (seen.rec.chain.empty()) {
        seen.rec.owner = *owner;
        seen.rec.chain = chain;
      } else if (seen.rec.chain != chain) {
        continue;  // one owner in two networks' maps cannot happen: the network is in the owner
      }
      if (t->family == AF_INET) {
        in_addr a{};
        std::memcpy(&a, &t->addr, 4);
        seen.rec.addrs.v4 = a;
      } else {
        seen.rec.addrs.v6 = t->addr;
      }
      auto& slot = seen.ports[{*p, k->port, bound ? k->host_ip : ""}];
      slot.first = t->port;
      slot.second |= t->family == AF_INET ? 1 : 2;
    }
  }
  for (auto& owned : by_owner) {
    const std::string& comment = owned.first;  // (clang 14 cannot capture a structured binding)
    auto& seen = owned.second;
    auto found = store.get(seen.rec.owner);
    if (!found) return found.take_error();
    if (found->record && !found->deleting) continue;  // recorded already
    auto& r = seen.rec;
    for (const auto& [key, v] : seen.ports) {
      PortMapping m;
      m.protocol = std::get<0>(key);
      m.host_port = std::get<1>(key);
      m.host_ip = std::get<2>(key);
      m.container_port = v.first;
      // Unbound and mapped for one family only although the container has both: hostIP 0.0.0.0
      // or ::, which keep their family.
      if (m.host_ip.empty() && r.addrs.v4 && r.addrs.v6 && v.second != 3) {
        m.host_family = v.second == 1 ? AF_INET : AF_INET6;
      }
      r.mappings.push_back(m);
    }
    auto member = [&](const char* set, const Bytes& key) -> Result<bool> {
      auto e = nft.get_element(kTableName, set, key);
      if (!e) return e.take_error();
      return *e && (*e)->comment == comment;
    };
    // snat and masqAll: whether the owner's addresses are in the address sets.
    std::vector<std::tuple<const char*, const char*, Bytes>> addresses;
    if (r.addrs.v4) addresses.emplace_back(kHairpinSet4, kMasqAllSet4, encode_addr(*r.addrs.v4));
    if (r.addrs.v6) addresses.emplace_back(kHairpinSet6, kMasqAllSet6, encode_addr(*r.addrs.v6));
    bool hairpin = false, masq = false;
    for (const auto& [hairpin_set, masq_set, key] : addresses) {
      auto h = member(hairpin_set, key);
      if (!h) return h.take_error();
      auto m = member(masq_set, key);
      if (!m) return m.take_error();
      hairpin |= *h;
      masq |= *m;
    }
    r.options = {hairpin, masq};
    auto excl = elements_of(NetworkLayout{r.chain}.exclude_set());
    if (!excl) return excl.take_error();
    for (const auto& e : *excl) {
      std::string dev(e.key.begin(), e.key.end());
      dev = dev.substr(0, dev.find('\0'));
      if (valid_ifname(dev)) r.exclude_devices.push_back(dev);
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace nftpm
