// Operations on the whole table, for the operator's command line: every mapping in a readable
// form, removal by owner across all networks, and uninstalling the table.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nftpm/nft.h"
#include "nftpm/owner_tag.h"

namespace nftpm {

// One map element seen as a mapping: host side -> container side, with its owner.
struct MappingView {
  std::string protocol;  // tcp, udp, sctp
  std::string host_ip;   // empty: every local address
  uint16_t host_port = 0;
  std::string container_ip;
  uint16_t container_port = 0;
  int family = 4;
  std::string chain;  // the network's chain (the map's prefix)
  std::optional<OwnerTag> owner;
  std::string comment;  // as stored, for elements with no owner tag of ours
};

// A map element of the network whose chain is `chain` as a mapping; nullopt if it is none.
std::optional<MappingView> view_of(const NftElement& e, const std::string& chain);

// Every mapping in the table (none if there is no table), sorted by host port.
Result<std::vector<MappingView>> list_mappings(Nftables& nft);

// Removes, guarded by the generation, every owned element (mappings and address elements, in any
// network) whose owner `select` picks. Returns what was removed.
Result<std::vector<NftElement>> remove_owned_where(Nftables& nft, const std::function<bool(const OwnerTag&)>& select);

// How many owned elements the table holds (0 when there is no table).
Result<size_t> count_owned(Nftables& nft);

// Deletes the table (and so every chain, map and mapping of the plugin). Refuses while owned
// elements remain, unless `force`. No table is success.
Status uninstall_table(Nftables& nft, bool force);

}  // namespace nftpm
