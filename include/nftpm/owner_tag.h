// The owner of a mapping: the exact (network, container ID, ifname) that added it. Stored as the
// comment of every element, so `nft list ruleset` shows it; compared whole, never as a prefix.
#pragma once

#include <optional>
#include <string>

#include "nftpm/error.h"

namespace nftpm {

struct OwnerTag {
  std::string network;
  std::string container_id;
  std::string ifname;

  // "net=<network> id=<container id> if=<ifname>"
  std::string encode() const;
  static std::optional<OwnerTag> decode(const std::string& comment);
  // Validates the parts so that encode() round-trips and fits in an element's userdata.
  static Result<OwnerTag> make(std::string network, std::string container_id, std::string ifname);

  bool operator==(const OwnerTag&) const = default;
};

// userdata is at most 255 bytes; the comment TLV costs 2 and the terminating NUL 1.
inline constexpr size_t kMaxOwnerTagBytes = 252;

}  // namespace nftpm
