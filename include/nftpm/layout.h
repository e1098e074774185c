// The plugin's nftables layout (README, "The nftables layout"):
//
//   table inet nft_port_mapper
//     set ports  { inet_proto . inet_service }             host port claims: one owner per port
//     set ports4 { ipv4_addr . inet_proto . inet_service } ... per port and host IPv4 (hostIP)
//     set ports6 { ipv6_addr . inet_proto . inet_service } ... per port and host IPv6
//     set hairpin4/6  { container addresses whose DNATed traffic to each other is masqueraded }
//     set masqall4/6  { container addresses all of whose DNATed traffic is masqueraded }
//     chain prerouting, output: per network, fib daddr type local jump <chain>-hostip (at the head,
//       so every host IP binding is tried first) and fib daddr type local jump <chain> (appended)
//     chain postrouting: hairpin, masqAll and localhost masquerade
//     chain localnet-guard: drops packets to 127/8 that arrive from outside (CVE-2020-8558)
//   and per network (`chain`):
//     set <chain>-excl, maps <chain>-v4, -v6, -v4b, -v6b, chains <chain> and <chain>-hostip
//     (exclusions, then DNAT through the maps).
//
// Why claims are plain sets and not verdict maps jumping to the network's chain: adding an element
// whose data is a jump or goto makes nf_tables validate, at every commit, every chain reachable
// through every element of that map, so ADD became O(mappings) in the kernel (12.6 ms of a 19 ms
// ADD at 50,000 mappings, measured). Plain elements need no validation; the jump rules, one pair
// per network, are validated once, when the network's chains are made.
#pragma once

#include <set>
#include <string>

#include <netinet/in.h>

#include "nftpm/config.h"
#include "nftpm/nft.h"

namespace nftpm {

inline constexpr const char* kTableName = "nft_port_mapper";
inline constexpr const char* kPortSet = "ports";
inline constexpr const char* kPortSet4 = "ports4";
inline constexpr const char* kPortSet6 = "ports6";
inline constexpr const char* kHairpinSet4 = "hairpin4";
inline constexpr const char* kHairpinSet6 = "hairpin6";
inline constexpr const char* kMasqAllSet4 = "masqall4";
inline constexpr const char* kMasqAllSet6 = "masqall6";
inline constexpr const char* kPreroutingChain = "prerouting";
inline constexpr const char* kOutputChain = "output";
inline constexpr const char* kPostroutingChain = "postrouting";
inline constexpr const char* kGuardChain = "localnet-guard";

// Names that a network's `chain` may not take, as the table's own chains use them.
bool is_reserved_name(const std::string& chain);

struct NetworkLayout {
  std::string chain;

  std::string exclude_set() const { return chain + "-excl"; }
  std::string v4_map() const { return chain + "-v4"; }
  std::string v6_map() const { return chain + "-v6"; }
  std::string v4_bound_map() const { return chain + "-v4b"; }
  std::string v6_bound_map() const { return chain + "-v6b"; }
  std::string hostip_chain() const { return chain + "-hostip"; }
};

// Table-wide sets and maps that carry owned elements (scanned by DEL without mappings and GC).
std::vector<std::string> global_owned_sets();
// The network's maps that carry owned elements.
std::vector<std::string> network_owned_sets(const NetworkLayout& net);

// Adds to `tx` whatever of the table, its chains and sets and the network's objects is not in
// `existing` (nullopt: no table). Rules are added only with the chain that holds them, so a chain
// is never given its rules twice.
void add_missing_objects(NftTransaction& tx, const std::optional<TableContents>& existing, const NetworkLayout& net);
// The same for several networks at once (restore), and repairs: every chain of the table (of these
// networks and of every network it already holds) that has fewer rules than the layout gives it is
// flushed and given them all again.
void add_missing_objects(NftTransaction& tx, const std::optional<TableContents>& existing,
                         const std::set<std::string>& networks);

// Element keys and data, in the kernel's layout (each concatenated field padded to 4 bytes).
Bytes encode_key(Protocol proto, uint16_t port);
Bytes encode_bound_key(const in_addr& host, Protocol proto, uint16_t port);
Bytes encode_bound_key(const in6_addr& host, Protocol proto, uint16_t port);
Bytes encode_ifname(const std::string& ifname);
Bytes encode_addr(const in_addr& addr);
Bytes encode_addr(const in6_addr& addr);
Bytes encode_v4_target(const in_addr& addr, uint16_t port);
Bytes encode_v6_target(const in6_addr& addr, uint16_t port);

struct DecodedKey {
  uint8_t proto;
  uint16_t port;
  std::string host_ip;  // bound keys only
};
// proto . port keys (8 bytes) and bound keys (12 / 24 bytes).
std::optional<DecodedKey> decode_key(const Bytes& key);
// "tcp/8080", "tcp 10.0.0.1:8080", for messages.
std::string describe_key(const Bytes& key);
// "10.1.0.5:80" / "[fd00::5]:80" for messages; empty if the data is not a target.
std::string describe_target(const Bytes& data);
// The address and port of a target (map data); nullopt if it is none.
struct DecodedTarget {
  int family;
  in6_addr addr;  // v4 in the first 4 bytes
  uint16_t port;
};
std::optional<DecodedTarget> decode_target(const Bytes& data);

}  // namespace nftpm
