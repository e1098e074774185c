#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <string_view>
#include <tuple>

#include <arpa/inet.h>

#include "nftpm/config.h"

namespace nftpm {

using nlohmann::json;

HostIp::HostIp(std::string text) : text_(std::move(text)) {
  if (text_.empty()) return;
  if (inet_pton(AF_INET, text_.c_str(), &v4_) == 1) {
    family_ = AF_INET;
  } else if (inet_pton(AF_INET6, text_.c_str(), &v6_) == 1) {
    family_ = AF_INET6;
  }
}

const char* protocol_name(Protocol p) {
  switch (p) {
    case Protocol::kTcp: return "tcp";
    case Protocol::kUdp: return "udp";
    case Protocol::kSctp: return "sctp";
  }
  return "?";
}

std::optional<Protocol> protocol_from_number(uint8_t number) {
  for (Protocol p : {Protocol::kTcp, Protocol::kUdp, Protocol::kSctp}) {
    if (static_cast<uint8_t>(p) == number) return p;
  }
  return std::nullopt;
}

std::string protocol_name(uint8_t number) {
  auto p = protocol_from_number(number);
  return p ? protocol_name(*p) : std::to_string(number);
}

std::optional<Protocol> parse_protocol(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "tcp") return Protocol::kTcp;
  if (lower == "udp") return Protocol::kUdp;
  if (lower == "sctp") return Protocol::kSctp;
  return std::nullopt;
}

namespace {

Error bad_mapping(const std::string& where, const std::string& why) {
  return Error(ErrorCode::kBadPortMappings, "invalid port mapping " + where + ": " + why);
}

// A port is an integer 1..65535; strings, fractions and out-of-range numbers are refused.
Result<uint16_t> parse_port(const json& m, const char* key, const std::string& where) {
  auto it = m.find(key);
  if (it == m.end() || it->is_null()) return bad_mapping(where, std::string("\"") + key + "\" is missing");
  if (!it->is_number_integer()) {
    return bad_mapping(where, std::string("\"") + key + "\" must be an integer, got " + json_text(*it));
  }
  // Read through int64/uint64 so that huge values are judged, not wrapped.
  bool in_range = it->is_number_unsigned() ? it->get<uint64_t>() >= 1 && it->get<uint64_t>() <= 65535
                                           : it->get<int64_t>() >= 1 && it->get<int64_t>() <= 65535;
  if (!in_range) return bad_mapping(where, std::string("\"") + key + "\" " + json_text(*it) + " is not in 1..65535");
  return static_cast<uint16_t>(it->get<int64_t>());
}

Result<Protocol> parse_protocol_field(const json& m, const std::string& where) {
  auto it = m.find("protocol");
  if (it == m.end() || it->is_null()) return Protocol::kTcp;  // Mesos: missing means tcp
  if (!it->is_string()) return bad_mapping(where, "\"protocol\" must be a string");
  auto p = parse_protocol(it->get<std::string>());
  if (!p) return bad_mapping(where, "unknown protocol " + json_text(*it) + " (tcp, udp or sctp)");
  return *p;
}

// Walks a path of object keys; absent or null anywhere means "not there" (nullptr).
const json* find_path(const json& root, std::initializer_list<const char*> path, std::string* type_error) {
  const json* cur = &root;
  std::string seen;
  for (const char* key : path) {
    if (!cur->is_object()) {
      *type_error = (seen.empty() ? std::string("args") : seen) + " is not an object";
      return nullptr;
    }
    auto it = cur->find(key);
    if (it == cur->end() || it->is_null()) return nullptr;
    seen += seen.empty() ? key : std::string(".") + key;
    cur = &*it;
  }
  return cur;
}

// The runtime's keys under the names this file reads. Go's encoding/json, which the reference
// plugin decodes with, matches keys to fields without regard to case, and containerd's CRI sends
// its go-cni PortMapping, which has no JSON tags, as "HostPort", "ContainerPort", "Protocol" and
// "HostIP". An exact key wins; otherwise the one key equal but for ASCII case is taken; two such
// keys are refused as ambiguous (Go would silently keep whichever came later).
Result<json> with_runtime_keys(const json& m, const std::string& where) {
  static constexpr std::array<std::string_view, 4> kKeys = {"hostPort", "containerPort", "protocol", "hostIP"};
  auto same_but_case = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
             return std::tolower(x) == std::tolower(y);
           });
  };
  json out = m;
  for (std::string_view key : kKeys) {
    if (m.contains(key)) continue;
    const std::string* found = nullptr;
    for (auto field = m.begin(); field != m.end(); ++field) {
      const std::string& name = field.key();
      if (!same_but_case(name, key)) continue;
      if (found != nullptr) {
        return bad_mapping(where, "\"" + *found + "\" and \"" + name + "\" both name \"" + std::string(key) + "\"");
      }
      found = &name;
    }
    if (found != nullptr) out[std::string(key)] = m.at(*found);
  }
  return out;
}

}  // namespace

Result<std::vector<PortMapping>> parse_mesos_port_mappings(const json& args) {
  std::vector<PortMapping> out;
  std::string type_error;
  const json* list = find_path(args, {"org.apache.mesos", "network_info", "port_mappings"}, &type_error);
  if (!type_error.empty()) return Error(ErrorCode::kBadPortMappings, "invalid args: " + type_error);
  if (list == nullptr) return out;
  if (!list->is_array()) return Error(ErrorCode::kBadPortMappings, "invalid args: port_mappings is not an array");
  for (size_t i = 0; i < list->size(); ++i) {
    const json& m = (*list)[i];
    std::string where = "port_mappings[" + std::to_string(i) + "]";
    if (!m.is_object()) return bad_mapping(where, "not an object");
    auto host = parse_port(m, "host_port", where);
    if (!host) return host.take_error();
    auto ctr = parse_port(m, "container_port", where);
    if (!ctr) return ctr.take_error();
    auto proto = parse_protocol_field(m, where);
    if (!proto) return proto.take_error();
    out.push_back({*host, *ctr, *proto, {}});
  }
  return out;
}

Result<std::vector<PortMapping>> parse_runtime_port_mappings(const json& runtime_config) {
  std::vector<PortMapping> out;
  if (!runtime_config.is_object()) return Error(ErrorCode::kInvalidConfig, "\"runtimeConfig\" is not an object");
  auto it = runtime_config.find("portMappings");
  if (it == runtime_config.end() || it->is_null()) return out;
  if (!it->is_array()) return Error(ErrorCode::kBadPortMappings, "runtimeConfig.portMappings is not an array");
  for (size_t i = 0; i < it->size(); ++i) {
    std::string where = "runtimeConfig.portMappings[" + std::to_string(i) + "]";
    if (!(*it)[i].is_object()) return bad_mapping(where, "not an object");
    auto keyed = with_runtime_keys((*it)[i], where);
    if (!keyed) return keyed.take_error();
    const json& m = *keyed;
    auto host = parse_port(m, "hostPort", where);
    if (!host) return host.take_error();
    auto ctr = parse_port(m, "containerPort", where);
    if (!ctr) return ctr.take_error();
    auto proto = parse_protocol_field(m, where);
    if (!proto) return proto.take_error();
    PortMapping pm{*host, *ctr, *proto, {}};
    if (auto h = m.find("hostIP"); h != m.end() && !h->is_null()) {
      if (!h->is_string()) return bad_mapping(where, "\"hostIP\" must be a string");
      HostIp ip(h->get<std::string>());
      // An unspecified address binds no address but keeps its family (the reference plugin
      // skips mappings whose hostIP is of the other family, and matches no address for these).
      if (ip.empty()) {
        // every local address of both families
      } else if (ip.family() == AF_INET) {
        if (ip.v4().s_addr == htonl(INADDR_ANY)) {
          pm.host_family = AF_INET;
        } else {
          pm.host_ip = ip;
        }
      } else if (ip.family() == AF_INET6) {
        if (IN6_IS_ADDR_LOOPBACK(&ip.v6())) {
          return bad_mapping(where,
                             "\"hostIP\" ::1 cannot be mapped: IPv6 drops a loopback destination that would "
                             "have to reach another namespace (127.0.0.1 can be mapped)");
        }
        if (IN6_IS_ADDR_UNSPECIFIED(&ip.v6())) {
          pm.host_family = AF_INET6;
        } else {
          pm.host_ip = ip;
        }
      } else {
        return bad_mapping(where, "\"hostIP\" '" + ip.text() + "' is not an IP address");
      }
    }
    out.push_back(pm);
  }
  return out;
}

Status check_no_duplicate_host_ports(const std::vector<PortMapping>& mappings) {
  // The families each (protocol, port, host address) is already asked for: 0.0.0.0:P and [::]:P
  // are one request for both; either of them with an unbound P asks for a family twice.
  constexpr int kV4 = 1, kV6 = 2;
  std::map<std::tuple<Protocol, uint16_t, std::string>, int> asked;
  for (const auto& m : mappings) {
    int families = m.host_family == AF_INET ? kV4 : m.host_family == AF_INET6 ? kV6 : kV4 | kV6;
    int& have = asked[{m.protocol, m.host_port, m.host_ip.text()}];
    if (have & families) {
      return Error(ErrorCode::kBadPortMappings, std::string("host port ") + protocol_name(m.protocol) + "/" +
                                                    std::to_string(m.host_port) + " is requested twice");
    }
    have |= families;
  }
  return ok_status();
}

}  // namespace nftpm
