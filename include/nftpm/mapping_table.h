// Port mappings as elements of the plugin's nftables maps: adding, removing, checking and
// collecting the mappings of one owner, atomically and safely against other plugin processes.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <netinet/in.h>

#include "nftpm/config.h"
#include "nftpm/layout.h"
#include "nftpm/nft.h"
#include "nftpm/owner_tag.h"

namespace nftpm {

struct ContainerAddrs {
  std::optional<in_addr> v4;
  std::optional<in6_addr> v6;
};

struct MappingOptions {
  bool hairpin = true;    // `snat`: masquerade DNATed traffic between containers (and from 127/8)
  bool masq_all = false;  // `masqAll`: masquerade all DNATed traffic to the containers
};

// (container ID, ifname) pairs of cni.dev/valid-attachments.
using Attachments = std::set<std::pair<std::string, std::string>>;

// Reads what to remove with `collect` and deletes it in one batch guarded by the generation read
// before it; when the ruleset changed in between, reads again. Returns what was removed. How
// every removal of owned elements is done (MappingTable, table_admin.h).
using CollectElements = std::function<Result<std::vector<NftElement>>()>;
Result<std::vector<NftElement>> remove_guarded(Nftables& nft, const CollectElements& collect);

class MappingTable {
 public:
  MappingTable(Nftables& nft, NetworkLayout layout, std::vector<std::string> exclude_devices,
               MappingOptions options = {})
      : nft_(nft), layout_(std::move(layout)), exclude_devices_(std::move(exclude_devices)), options_(options) {}

  // Adds every mapping to `addrs`, or nothing. A host port held by another owner is a
  // kPortConflict naming that owner; the owner's own leftovers are replaced.
  Status add(const OwnerTag& owner, const std::vector<PortMapping>& mappings, const ContainerAddrs& addrs);

  // Removes the owner's elements and returns them. With `mappings`, only their keys are looked at
  // (cost independent of other containers); without, the table's maps are scanned. Elements of
  // other owners are never removed. Nothing to remove (no table even) is success. With
  // `installed_families` (the addresses the owner's record says its mappings point at), the maps
  // of a family it has no address of are not looked at: nothing of the owner's can be there.
  Result<std::vector<NftElement>> remove(const OwnerTag& owner, const std::optional<std::vector<PortMapping>>& mappings,
                                         const ContainerAddrs* installed_families = nullptr);

  // Every mapping present, owned by `owner`, pointing at `addrs`.
  Status check(const OwnerTag& owner, const std::vector<PortMapping>& mappings, const ContainerAddrs& addrs);

  // Removes every element of `network` whose owner is not in `valid`; returns them.
  Result<std::vector<NftElement>> gc(const std::string& network, const Attachments& valid);

  // How many batches a read-check-write may be retried after the ruleset changed underneath it.
  static constexpr int kMaxAttempts = 50;

  // The elements one request is made of: `ports` are host-wide claims (a taken key is a
  // conflict), `addresses` are keyed by the container's address (a stale holder is replaced).
  struct Wanted {
    std::vector<NftElement> ports, addresses;
  };
  Wanted wanted_elements(const OwnerTag& owner, const std::vector<PortMapping>& mappings,
                         const ContainerAddrs& addrs) const;

 private:
  Status resolve_conflict(const OwnerTag& owner, const Wanted& w);
  // The elements `select` picks from every set that holds owned elements (table and network).
  Result<std::vector<NftElement>> scan(const std::function<bool(const NftElement&)>& select);

  Nftables& nft_;
  NetworkLayout layout_;
  std::vector<std::string> exclude_devices_;
  MappingOptions options_;
};

}  // namespace nftpm
