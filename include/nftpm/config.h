// The network configuration on stdin, validated up front (as Mesos's create() does): everything
// after parsing acts only on these checked values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include "nftpm/cni.h"
#include "nftpm/error.h"
#include "nftpm/owner_tag.h"

namespace nftpm {

// Records of each attachment (record_store.h): on tmpfs, so none outlives the boot.
inline constexpr const char* kDefaultStateDir = "/run/cni/nft-port-mapper";

enum class Protocol : uint8_t { kTcp = 6, kUdp = 17, kSctp = 132 };
const char* protocol_name(Protocol p);
// A protocol number as the kernel stores it: its Protocol, and its name ("tcp", "udp", "sctp";
// any other number in decimal, as nft prints it).
std::optional<Protocol> protocol_from_number(uint8_t number);
std::string protocol_name(uint8_t number);
std::optional<Protocol> parse_protocol(const std::string& name);  // any case

// The one address a mapping is bound to (chained mode's hostIP), parsed once, when it is made:
// its text as given and its address. Empty: bound to no address. Two are equal when their texts
// are.
class HostIp {
 public:
  HostIp() = default;
  HostIp(std::string text);  // NOLINT(google-explicit-constructor): read wherever a hostIP is
  HostIp(const char* text) : HostIp(std::string(text)) {}  // NOLINT(google-explicit-constructor)

  const std::string& text() const { return text_; }
  bool empty() const { return text_.empty(); }
  // AF_INET or AF_INET6; AF_UNSPEC when empty or not an address (which the parsers refuse).
  int family() const { return family_; }
  const in_addr& v4() const { return v4_; }
  const in6_addr& v6() const { return v6_; }

  bool operator==(const HostIp& o) const { return text_ == o.text_; }
  bool operator<(const HostIp& o) const { return text_ < o.text_; }

 private:
  std::string text_;
  int family_ = AF_UNSPEC;
  in_addr v4_{};
  in6_addr v6_{};
};

struct PortMapping {
  uint16_t host_port = 0;
  uint16_t container_port = 0;
  Protocol protocol = Protocol::kTcp;
  HostIp host_ip;  // empty: every local address (chained mode's hostIP)
  // With host_ip empty: AF_UNSPEC maps both families (no hostIP, or ""); AF_INET or AF_INET6
  // maps that family only (hostIP "0.0.0.0" or "::", as the reference portmap reads them).
  int host_family = AF_UNSPEC;

  bool operator==(const PortMapping&) const = default;
};

// Reads args["org.apache.mesos"].network_info.port_mappings (absent anywhere = no mappings).
Result<std::vector<PortMapping>> parse_mesos_port_mappings(const nlohmann::json& args);
// Reads runtimeConfig.portMappings (chained mode).
Result<std::vector<PortMapping>> parse_runtime_port_mappings(const nlohmann::json& runtime_config);
// Two mappings asking for the same host port and protocol cannot both be honoured.
Status check_no_duplicate_host_ports(const std::vector<PortMapping>& mappings);

struct NetConfig {
  std::string name;
  std::string cni_version;  // empty: none given (Mesos), which means the 0.1/0.2 result form
  std::string type;
  std::string chain;  // per-network nft chain
  std::vector<std::string> exclude_devices;
  std::optional<nlohmann::json> delegate;  // delegate mode when present
  int delegate_timeout_seconds = 120;
  std::string log_file;     // `logFile`: where each call logs its steps (default: stderr)
  std::string log_level;    // `logLevel`: error, warn, info, debug (default: info with a file, warn without)
  bool snat = true;         // hairpin and localhost masquerade, as the reference portmap's `snat`
  bool masq_all = false;    // `masqAll`: masquerade every DNATed connection to the containers
  bool defer_close = true;  // `deferClose`: leave the kernel's clean-up wait to a child (deferred_close.h)
  // `stateDir`: where attachment records are kept (record_store.h)
  std::string state_dir = kDefaultStateDir;
  std::vector<PortMapping> mappings;
  // DEL, GC, STATUS: why the mappings could not be read (they are then empty). A bad mapping
  // must not make DEL fail: libcni would stop before the attaching plugin's DEL and leak it.
  std::string mappings_error;
  // GC: cni.dev/valid-attachments as (container ID, ifname) pairs.
  std::vector<std::pair<std::string, std::string>> valid_attachments;
  std::optional<nlohmann::json> prev_result;
  nlohmann::json raw;  // the whole document, for the delegate's copy

  bool delegate_mode() const { return delegate.has_value(); }
  // The version the caller asked results in: absent means the 0.1.0 era.
  std::string result_version() const { return cni_version.empty() ? "0.1.0" : cni_version; }
};

inline constexpr size_t kMaxConfigBytes = 1 << 20;
// One container asking for more host ports than this is refused rather than committed.
inline constexpr size_t kMaxMappings = 8192;

// Network names: valid_network_name (owner_tag.h). Chain names follow the same rule and may not
// be one of the table's own chains (layout.h).
bool valid_chain_name(const std::string& name);

Result<NetConfig> parse_net_config(const std::string& text, CniCommand command);
// The same for a document the caller has already parsed (the plugin parses its stdin once).
Result<NetConfig> parse_net_config_document(nlohmann::json j, CniCommand command);

}  // namespace nftpm
