// A record as JSON: what ADD installed for one attachment, with the boot and the namespace it
// belongs to. Reading refuses anything that is not a whole, valid record of this format version:
// a record is only ever used to install mappings as root, so it is checked as strictly as a
// network config is.
#include <arpa/inet.h>

#include <nlohmann/json.hpp>
#include <string_view>

#include "nftpm/cni.h"
#include "nftpm/layout.h"
#include "nftpm/record_store.h"

namespace nftpm {

using nlohmann::json;

namespace {

constexpr const char* kFormat = "nft-port-mapper/attachment-record";

std::string address_text(int family, const void* a) {
  char buf[INET6_ADDRSTRLEN];
  return inet_ntop(family, a, buf, sizeof buf) ? buf : "";
}

Error bad(const std::string& why) {
  return Error(ErrorCode::kDecodeFailure, why);
}

Result<std::string> text_field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return bad(std::string("\"") + key + "\" is missing or not a string");
  return it->get<std::string>();
}

Result<bool> bool_field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_boolean()) return bad(std::string("\"") + key + "\" is missing or not true/false");
  return it->get<bool>();
}

Result<uint16_t> port_field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned() || it->get<uint64_t>() < 1 || it->get<uint64_t>() > 65535) {
    return bad(std::string("\"") + key + "\" is not a port number");
  }
  return static_cast<uint16_t>(it->get<uint64_t>());
}

Result<PortMapping> mapping_from_json(const json& m) {
  if (!m.is_object()) return bad("a mapping is not an object");
  PortMapping pm;
  auto proto = text_field(m, "protocol");
  if (!proto) return proto.take_error();
  auto p = parse_protocol(*proto);
  if (!p) return bad("unknown protocol \"" + *proto + "\"");
  pm.protocol = *p;
  auto hp = port_field(m, "hostPort");
  if (!hp) return hp.take_error();
  auto cp = port_field(m, "containerPort");
  if (!cp) return cp.take_error();
  pm.host_port = *hp;
  pm.container_port = *cp;
  auto host_ip = text_field(m, "hostIP");
  if (!host_ip) return host_ip.take_error();
  pm.host_ip = *host_ip;
  if (!pm.host_ip.empty() && pm.host_ip.family() == AF_UNSPEC) {
    return bad("\"hostIP\" '" + pm.host_ip.text() + "' is not an IP address");
  }
  auto fam = text_field(m, "hostFamily");
  if (!fam) return fam.take_error();
  if (*fam == "any") {
    pm.host_family = AF_UNSPEC;
  } else if (*fam == "ipv4") {
    pm.host_family = AF_INET;
  } else if (*fam == "ipv6") {
    pm.host_family = AF_INET6;
  } else {
    return bad("\"hostFamily\" must be any, ipv4 or ipv6");
  }
  return pm;
}

// `s` as a JSON string, as nlohmann::json prints it: printable ASCII but '"' and '\\' as it is
// (every name a record holds is so), anything else through the library.
void append_json_string(std::string& out, const std::string& s) {
  bool plain = std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
  if (!plain) {
    out += json_text(json(s));
    return;
  }
  out += '"';
  out += s;
  out += '"';
}

// The mappings' array, written out directly: a container may have thousands of mappings, and
// building a JSON object for each cost a 1,000-mapping ADD 3 ms here. The text is what
// nlohmann::json would print for the same objects (keys in its order), so records read the same.
std::string mappings_text(const std::vector<PortMapping>& mappings) {
  std::string out = "[";
  out.reserve(mappings.size() * 96 + 2);
  for (const auto& m : mappings) {
    if (out.size() > 1) out += ',';
    out += "{\"containerPort\":";
    out += std::to_string(m.container_port);
    out += ",\"hostFamily\":\"";
    out += m.host_family == AF_INET ? "ipv4" : m.host_family == AF_INET6 ? "ipv6" : "any";
    out += "\",\"hostIP\":";
    append_json_string(out, m.host_ip.empty() ? std::string() : m.host_ip.text());
    out += ",\"hostPort\":";
    out += std::to_string(m.host_port);
    out += ",\"protocol\":\"";
    out += protocol_name(m.protocol);
    out += "\"}";
  }
  out += ']';
  return out;
}

}  // namespace

std::string record_to_json(const AttachmentRecord& r, const NodeIdentity& id) {
  // Written out directly, like the mappings: in a one-port ADD, building the nlohmann object and
  // printing it took 0.05 ms (most of it the first use of that code in the process). Keys in
  // nlohmann's (sorted) order, so the text is byte for byte what the library printed before.
  std::string out = "{\"addresses\":{";
  if (r.addrs.v4) {
    out += "\"ipv4\":";
    append_json_string(out, address_text(AF_INET, &*r.addrs.v4));
  }
  if (r.addrs.v6) {
    out += r.addrs.v4 ? ",\"ipv6\":" : "\"ipv6\":";
    append_json_string(out, address_text(AF_INET6, &*r.addrs.v6));
  }
  out += "},\"bootID\":";
  append_json_string(out, id.boot_id);
  out += ",\"chain\":";
  append_json_string(out, r.chain);
  out += ",\"containerID\":";
  append_json_string(out, r.owner.container_id);
  out += ",\"createdNs\":" + std::to_string(r.created_ns) + ",\"excludeDevices\":[";
  for (size_t i = 0; i < r.exclude_devices.size(); ++i) {
    if (i > 0) out += ',';
    append_json_string(out, r.exclude_devices[i]);
  }
  out += "],\"format\":";
  append_json_string(out, kFormat);
  out += ",\"ifname\":";
  append_json_string(out, r.owner.ifname);
  out += ",\"mappings\":" + mappings_text(r.mappings);
  out += std::string(",\"masqAll\":") + (r.options.masq_all ? "true" : "false");
  out += ",\"netnsCookie\":" + std::to_string(id.netns_cookie) + ",\"network\":";
  append_json_string(out, r.owner.network);
  out += std::string(",\"snat\":") + (r.options.hairpin ? "true" : "false");
  out += ",\"version\":" + std::to_string(kRecordFormatVersion) + "}\n";
  return out;
}

Result<AttachmentRecord> record_from_json(const std::string& text, const NodeIdentity& id) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad("not valid JSON (truncated?)");
  if (!j.is_object()) return bad("not a JSON object");
  auto format = j.find("format");
  if (format == j.end() || !format->is_string() || format->get<std::string>() != kFormat) {
    return bad("not an nft-port-mapper record");
  }
  auto v = j.find("version");
  if (v == j.end() || !v->is_number_integer() || v->get<int64_t>() != kRecordFormatVersion) {
    return bad("record format version " + (v == j.end() ? std::string("missing") : v->dump()) +
               ", this binary reads version " + std::to_string(kRecordFormatVersion));
  }
  auto boot = text_field(j, "bootID");
  if (!boot) return boot.take_error();
  if (*boot != id.boot_id) return bad("made in an earlier boot (" + *boot + ")");
  auto cookie = j.find("netnsCookie");
  if (cookie == j.end() || !cookie->is_number_unsigned() || cookie->get<uint64_t>() != id.netns_cookie) {
    return bad("made in another network namespace");
  }

  AttachmentRecord r;
  auto net = text_field(j, "network");
  auto cid = text_field(j, "containerID");
  auto ifn = text_field(j, "ifname");
  if (!net) return net.take_error();
  if (!cid) return cid.take_error();
  if (!ifn) return ifn.take_error();
  if (!valid_network_name(*net) || !valid_container_id(*cid) || !valid_ifname(*ifn)) {
    return bad("invalid network, container ID or interface name");
  }
  auto owner = OwnerTag::make(*net, *cid, *ifn);
  if (!owner) return bad(owner.error().msg);
  r.owner = *owner;
  auto chain = text_field(j, "chain");
  if (!chain) return chain.take_error();
  if (!valid_chain_name(*chain)) return bad("invalid chain name \"" + *chain + "\"");
  r.chain = *chain;
  auto excl = j.find("excludeDevices");
  if (excl == j.end() || !excl->is_array()) return bad("\"excludeDevices\" is missing or not an array");
  for (const auto& d : *excl) {
    if (!d.is_string() || !valid_ifname(d.get<std::string>())) return bad("invalid excluded device");
    r.exclude_devices.push_back(d.get<std::string>());
  }
  auto snat = bool_field(j, "snat");
  if (!snat) return snat.take_error();
  auto masq = bool_field(j, "masqAll");
  if (!masq) return masq.take_error();
  r.options = {*snat, *masq};

  auto addrs = j.find("addresses");
  if (addrs == j.end() || !addrs->is_object()) return bad("\"addresses\" is missing or not an object");
  if (auto a = addrs->find("ipv4"); a != addrs->end()) {
    in_addr v4{};
    if (!a->is_string() || inet_pton(AF_INET, a->get<std::string>().c_str(), &v4) != 1) return bad("invalid ipv4");
    r.addrs.v4 = v4;
  }
  if (auto a = addrs->find("ipv6"); a != addrs->end()) {
    in6_addr v6{};
    if (!a->is_string() || inet_pton(AF_INET6, a->get<std::string>().c_str(), &v6) != 1) return bad("invalid ipv6");
    r.addrs.v6 = v6;
  }
  if (!r.addrs.v4 && !r.addrs.v6) return bad("no container address");

  auto ms = j.find("mappings");
  if (ms == j.end() || !ms->is_array() || ms->empty()) return bad("\"mappings\" is missing or empty");
  if (ms->size() > kMaxMappings) return bad("more than " + std::to_string(kMaxMappings) + " mappings");
  for (const auto& m : *ms) {
    auto pm = mapping_from_json(m);
    if (!pm) return pm.take_error();
    r.mappings.push_back(*pm);
  }
  if (auto s = check_no_duplicate_host_ports(r.mappings); !s) return bad(s.error().msg);
  if (auto c = j.find("createdNs"); c != j.end()) {
    if (!c->is_number_unsigned()) return bad("\"createdNs\" is not a whole number");
    r.created_ns = c->get<uint64_t>();
  }
  return r;
}

}  // namespace nftpm
