// The plugin's nftables layout: one inet table, a host-wide dispatch verdict map (one owner per
// protocol/port on the node), and per network a chain with its excluded devices and its v4/v6
// DNAT maps. See README, "The nftables layout".
#pragma once

#include <array>
#include <string>

#include <netinet/in.h>

#include "nftpm/config.h"
#include "nftpm/nft.h"

namespace nftpm {

inline constexpr const char* kTableName = "nft_port_mapper";
inline constexpr const char* kDispatchMap = "dispatch";
inline constexpr const char* kPreroutingChain = "prerouting";
inline constexpr const char* kOutputChain = "output";

// Names that a network's `chain` may not take, as the table's own objects use them.
bool is_reserved_name(const std::string& chain);

struct NetworkLayout {
  std::string chain;

  std::string exclude_set() const { return chain + "-excl"; }
  std::string v4_map() const { return chain + "-v4"; }
  std::string v6_map() const { return chain + "-v6"; }
};

// Adds to `tx` whatever of the table, base chains, dispatch map and the network's objects is not
// in `existing` (nullopt: no table). Rules are added only with the chain that holds them, so a
// chain is never given its rules twice.
void add_missing_objects(NftTransaction& tx, const std::optional<TableContents>& existing,
                         const NetworkLayout& net);

// Element keys and data, in the kernel's layout (each concatenated field padded to 4 bytes).
Bytes encode_key(Protocol proto, uint16_t port);
Bytes encode_ifname(const std::string& ifname);
Bytes encode_v4_target(const in_addr& addr, uint16_t port);
Bytes encode_v6_target(const in6_addr& addr, uint16_t port);

struct DecodedKey {
  uint8_t proto;
  uint16_t port;
};
std::optional<DecodedKey> decode_key(const Bytes& key);
// "10.1.0.5:80" / "[fd00::5]:80" for messages; empty if the data is not a target.
std::string describe_target(const Bytes& data);

}  // namespace nftpm
