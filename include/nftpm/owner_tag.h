// The owner of a mapping: the exact (network, container ID, ifname) that added it. Stored as the
// comment of every element, so `nft list ruleset` shows it; compared whole, never as a prefix.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "nftpm/error.h"

namespace nftpm {

// The parts of an owner, checked the same way wherever they are read: the CNI environment, the
// network config, element comments and attachment records.
//
// Letters, digits, '_', '.' and '-', starting with a letter or digit, 1 to max_len bytes: the CNI
// specification's rule for container IDs, which network and chain names follow too.
bool valid_cni_name(const std::string& name, size_t max_len);
bool valid_network_name(const std::string& name);  // at most 64
bool valid_container_id(const std::string& id);    // at most 200
// A Linux interface name: 1-15 bytes, printable, no '/', ':' or white space, not "." or "..".
bool valid_ifname(const std::string& name);

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
