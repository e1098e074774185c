// Port mappings as elements of the plugin's nftables maps: adding, removing and checking the
// mappings of one owner, atomically and safely against other plugin processes.
#pragma once

#include <optional>
#include <string>
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

class MappingTable {
 public:
  MappingTable(Nftables& nft, NetworkLayout layout, std::vector<std::string> exclude_devices)
      : nft_(nft), layout_(std::move(layout)), exclude_devices_(std::move(exclude_devices)) {}

  // Adds every mapping to `addrs`, or nothing. A host port held by another owner is a
  // kPortConflict naming that owner; the owner's own leftovers are replaced.
  Status add(const OwnerTag& owner, const std::vector<PortMapping>& mappings, const ContainerAddrs& addrs);

  // Removes the owner's elements. With `mappings`, only their keys are looked at (cost independent
  // of other containers); without, the network's maps are scanned. Elements of other owners are
  // never removed. Nothing to remove (no table even) is success.
  Status remove(const OwnerTag& owner, const std::optional<std::vector<PortMapping>>& mappings);

  // Every mapping present, owned by `owner`, pointing at `addrs`.
  Status check(const OwnerTag& owner, const std::vector<PortMapping>& mappings, const ContainerAddrs& addrs);

  // How many batches a read-check-write may be retried after the ruleset changed underneath it.
  static constexpr int kMaxAttempts = 50;

 private:
  struct Wanted {
    std::vector<NftElement> dispatch, v4, v6;
  };
  Wanted wanted_elements(const OwnerTag& owner, const std::vector<PortMapping>& mappings,
                         const ContainerAddrs& addrs) const;
  Status explain_conflict(const OwnerTag& owner, const Wanted& w, bool* only_own_leftovers);
  Status replace_own(const OwnerTag& owner, const Wanted& w);

  Nftables& nft_;
  NetworkLayout layout_;
  std::vector<std::string> exclude_devices_;
};

}  // namespace nftpm
