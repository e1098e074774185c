// Results of every version into one model and back. 0.1/0.2: {"ip4":{ip,gateway,routes},
// "ip6":{...},"dns"}; 0.3/0.4: interfaces + ips with "version"; 1.x: the same without "version".
#include <arpa/inet.h>

#include "nftpm/cni.h"

namespace nftpm {

using nlohmann::json;

namespace {

Error bad_result(const std::string& why) {
  return Error(ErrorCode::kDecodeFailure, "invalid CNI result: " + why);
}

std::string str_field(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

// 4 or 6 from a CIDR or plain address; 0 if it is neither.
int address_family(const std::string& cidr) {
  std::string addr = cidr.substr(0, cidr.find('/'));
  unsigned char buf[sizeof(in6_addr)];
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1) return 4;
  if (inet_pton(AF_INET6, addr.c_str(), buf) == 1) return 6;
  return 0;
}

Result<std::vector<CniRoute>> parse_routes(const json& o) {
  std::vector<CniRoute> out;
  auto it = o.find("routes");
  if (it == o.end() || it->is_null()) return out;
  if (!it->is_array()) return bad_result("\"routes\" is not an array");
  for (const auto& r : *it) {
    if (!r.is_object()) return bad_result("a route is not an object");
    out.push_back({str_field(r, "dst"), str_field(r, "gw")});
  }
  return out;
}

json routes_to_json(const std::vector<CniRoute>& routes, int family) {
  json a = json::array();
  for (const auto& r : routes) {
    if (family != 0 && address_family(r.dst) != family) continue;
    json o = {{"dst", r.dst}};
    if (!r.gw.empty()) o["gw"] = r.gw;
    a.push_back(o);
  }
  return a;
}

Result<Ok> parse_legacy_ip(const json& j, const char* key, int family, CniResult& r) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Ok{};
  if (!it->is_object()) return bad_result(std::string("\"") + key + "\" is not an object");
  CniIp ip;
  ip.address = str_field(*it, "ip");
  if (address_family(ip.address) != family) return bad_result(std::string(key) + ".ip is not a valid address");
  ip.gateway = str_field(*it, "gateway");
  ip.family = family;
  r.ips.push_back(ip);
  auto routes = parse_routes(*it);
  if (!routes) return routes.take_error();
  r.routes.insert(r.routes.end(), routes->begin(), routes->end());
  return Ok{};
}

}  // namespace

Result<CniResult> parse_cni_result(const json& j, const std::string& requested_version) {
  if (!j.is_object()) return bad_result("not a JSON object");
  std::string version = str_field(j, "cniVersion");
  if (version.empty()) version = requested_version;
  CniResult r;
  if (auto d = j.find("dns"); d != j.end() && d->is_object()) r.dns = *d;

  // Decide by shape as well as by version: some delegates label a legacy result oddly.
  bool legacy = j.contains("ip4") || j.contains("ip6") || (is_legacy_result_version(version) && !j.contains("ips"));
  if (legacy) {
    if (auto s = parse_legacy_ip(j, "ip4", 4, r); !s) return s.take_error();
    if (auto s = parse_legacy_ip(j, "ip6", 6, r); !s) return s.take_error();
    return r;
  }

  if (auto it = j.find("interfaces"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return bad_result("\"interfaces\" is not an array");
    for (const auto& i : *it) {
      if (!i.is_object()) return bad_result("an interface is not an object");
      CniInterface iface{str_field(i, "name"), str_field(i, "mac"), str_field(i, "sandbox"), json::object()};
      for (auto f = i.begin(); f != i.end(); ++f) {
        if (f.key() != "name" && f.key() != "mac" && f.key() != "sandbox") iface.extra[f.key()] = f.value();
      }
      r.interfaces.push_back(std::move(iface));
    }
  }
  if (auto it = j.find("ips"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return bad_result("\"ips\" is not an array");
    for (const auto& i : *it) {
      if (!i.is_object()) return bad_result("an ips entry is not an object");
      CniIp ip;
      ip.address = str_field(i, "address");
      ip.family = address_family(ip.address);
      if (ip.family == 0) return bad_result("ips[].address '" + ip.address + "' is not a valid CIDR");
      ip.gateway = str_field(i, "gateway");
      if (auto f = i.find("interface"); f != i.end() && f->is_number_integer()) {
        int idx = f->get<int>();
        if (idx < 0 || static_cast<size_t>(idx) >= r.interfaces.size()) {
          return bad_result("ips[].interface index is out of range");
        }
        ip.interface = idx;
      }
      r.ips.push_back(ip);
    }
  }
  auto routes = parse_routes(j);
  if (!routes) return routes.take_error();
  r.routes = *routes;
  return r;
}

json cni_result_to_json(const CniResult& r, const std::string& version) {
  json j;
  j["cniVersion"] = version;
  if (is_legacy_result_version(version)) {
    // 0.1/0.2 keep one address per family; the first of each wins, as libcni's converter does.
    for (int family : {4, 6}) {
      for (const auto& ip : r.ips) {
        if (ip.family != family) continue;
        json o = {{"ip", ip.address}};
        if (!ip.gateway.empty()) o["gateway"] = ip.gateway;
        json routes = routes_to_json(r.routes, family);
        if (!routes.empty()) o["routes"] = routes;
        j[family == 4 ? "ip4" : "ip6"] = o;
        break;
      }
    }
    j["dns"] = r.dns;
    return j;
  }
  bool with_ip_version = compare_versions(version, "1.0.0") < 0;
  if (!r.interfaces.empty()) {
    json a = json::array();
    for (const auto& i : r.interfaces) {
      json o = i.extra;
      o["name"] = i.name;
      if (!i.mac.empty()) o["mac"] = i.mac;
      if (!i.sandbox.empty()) o["sandbox"] = i.sandbox;
      a.push_back(o);
    }
    j["interfaces"] = a;
  }
  if (!r.ips.empty()) {
    json a = json::array();
    for (const auto& ip : r.ips) {
      json o;
      if (with_ip_version) o["version"] = ip.family == 6 ? "6" : "4";
      if (ip.interface) o["interface"] = *ip.interface;
      o["address"] = ip.address;
      if (!ip.gateway.empty()) o["gateway"] = ip.gateway;
      a.push_back(o);
    }
    j["ips"] = a;
  }
  if (!r.routes.empty()) j["routes"] = routes_to_json(r.routes, 0);
  j["dns"] = r.dns;
  return j;
}

std::vector<CniIp> container_ips(const CniResult& r, const std::string& ifname) {
  std::vector<CniIp> out;
  for (const auto& ip : r.ips) {
    if (ip.interface) {
      const auto& iface = r.interfaces[*ip.interface];
      if (iface.name != ifname) continue;
    }
    out.push_back(ip);
  }
  return out;
}

}  // namespace nftpm
