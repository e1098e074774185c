#include "nftpm/config.h"
#include "nftpm/layout.h"

namespace nftpm {

using nlohmann::json;

namespace {

Error invalid(const std::string& why, const std::string& details = {}) {
  return Error(ErrorCode::kInvalidConfig, "invalid network config: " + why, details);
}

Result<std::string> required_string(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return invalid(std::string("\"") + key + "\" is missing");
  if (!it->is_string()) return invalid(std::string("\"") + key + "\" must be a string");
  return it->get<std::string>();
}

Result<std::optional<std::string>> optional_string(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return invalid(std::string("\"") + key + "\" must be a string");
  return std::optional<std::string>(it->get<std::string>());
}

}  // namespace

bool valid_chain_name(const std::string& name) {
  return valid_cni_name(name, 64) && !is_reserved_name(name);
}

namespace {

// Each step reads the keys of one concept into `c`, in the order their errors are reported.

Result<json> read_document(const std::string& text) {
  if (text.size() > kMaxConfigBytes) {
    return Error(ErrorCode::kReadFailure, "network config is larger than 1 MiB");
  }
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    // Parse again with exceptions only to tell the person where it broke.
    std::string where;
    try {
      json probe = json::parse(text);
      (void)probe;
    } catch (const json::exception& e) {
      // parse_error for bad syntax, out_of_range for a number too large to hold (1e999).
      where = e.what();
    }
    return Error(ErrorCode::kDecodeFailure, "network config is not valid JSON", where);
  }
  if (!j.is_object()) return Error(ErrorCode::kDecodeFailure, "network config is not a JSON object");
  return j;
}

// name, cniVersion, type, chain.
Status read_names(const json& j, NetConfig& c) {
  auto name = required_string(j, "name");
  if (!name) return name.take_error();
  if (!valid_network_name(*name)) {
    return invalid("\"name\" '" + *name + "' is not a valid network name",
                   "1-64 characters of letters, digits, '_', '.' and '-', starting with a letter or digit");
  }
  c.name = *name;

  auto version = optional_string(j, "cniVersion");
  if (!version) return version.take_error();
  if (*version) {
    if (!is_supported_version(**version)) {
      return Error(ErrorCode::kIncompatibleVersion, "unsupported cniVersion '" + **version + "'",
                   "supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0");
    }
    c.cni_version = **version;
  }
  auto type = optional_string(j, "type");
  if (!type) return type.take_error();
  c.type = type->value_or("");

  auto chain = optional_string(j, "chain");
  if (!chain) return chain.take_error();
  c.chain = chain->value_or("cni-" + c.name);
  if (!valid_chain_name(c.chain)) {
    return invalid("\"chain\" '" + c.chain + "' is not a valid chain name",
                   "1-64 characters of letters, digits, '_', '.' and '-', starting with a letter or digit, "
                   "and not one of the table's own names (prerouting, output, postrouting, localnet-guard) "
                   "nor end in -hostip");
  }
  return ok_status();
}

Status read_exclude_devices(const json& j, NetConfig& c) {
  if (auto it = j.find("excludeDevices"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return invalid("\"excludeDevices\" must be an array of interface names");
    for (const auto& d : *it) {
      if (!d.is_string() || !valid_ifname(d.get<std::string>())) {
        return invalid("\"excludeDevices\" entry " + json_text(d) + " is not a valid interface name");
      }
      c.exclude_devices.push_back(d.get<std::string>());
    }
  }
  return ok_status();
}

// logFile, logLevel, stateDir: where the call writes.
Status read_files(const json& j, NetConfig& c) {
  auto log_file = optional_string(j, "logFile");
  if (!log_file) return log_file.take_error();
  c.log_file = log_file->value_or("");
  if (!c.log_file.empty() && c.log_file[0] != '/') return invalid("\"logFile\" must be an absolute path");
  auto log_level = optional_string(j, "logLevel");
  if (!log_level) return log_level.take_error();
  c.log_level = log_level->value_or("");
  if (!c.log_level.empty() && c.log_level != "error" && c.log_level != "warn" && c.log_level != "info" &&
      c.log_level != "debug") {
    return invalid("\"logLevel\" must be error, warn, info or debug");
  }

  auto state_dir = optional_string(j, "stateDir");
  if (!state_dir) return state_dir.take_error();
  if (*state_dir) {
    const std::string& d = **state_dir;
    if (d.size() < 2 || d[0] != '/' || d.size() > 200 || d.find("/../") != std::string::npos ||
        d.find("/./") != std::string::npos || d.ends_with("/..") || d.ends_with("/.") ||
        d.find('\0') != std::string::npos) {
      return invalid("\"stateDir\" must be an absolute path (not /, no . or .. components, at most 200 bytes)");
    }
    c.state_dir = d;
    while (c.state_dir.size() > 1 && c.state_dir.back() == '/') c.state_dir.pop_back();
  }
  return ok_status();
}

// delegate, delegateTimeout, prevResult: what the plugin maps to.
Status read_attachment(const json& j, NetConfig& c) {
  if (auto it = j.find("delegateTimeout"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 3600) {
      return invalid("\"delegateTimeout\" must be a whole number of seconds in 1..3600");
    }
    c.delegate_timeout_seconds = static_cast<int>(it->get<int64_t>());
  }

  if (auto it = j.find("delegate"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return invalid("\"delegate\" must be an object");
    auto dtype = required_string(*it, "type");
    if (!dtype) return invalid("\"delegate\".\"type\" is missing or not a string");
    c.delegate = *it;
  }

  if (auto it = j.find("prevResult"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return invalid("\"prevResult\" must be an object");
    c.prev_result = *it;
  }
  return ok_status();
}

// Mesos injects the mappings under args; runtimes under runtimeConfig. DEL and CHECK carry the
// same document as ADD.
Result<std::vector<PortMapping>> read_mappings(const json& j) {
  std::vector<PortMapping> all;
  if (auto it = j.find("args"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return Error(ErrorCode::kBadPortMappings, "invalid args: \"args\" is not an object");
    auto m = parse_mesos_port_mappings(*it);
    if (!m) return m.take_error();
    all = *m;
  }
  if (auto it = j.find("runtimeConfig"); it != j.end() && !it->is_null()) {
    auto m = parse_runtime_port_mappings(*it);
    if (!m) return m.take_error();
    all.insert(all.end(), m->begin(), m->end());
  }
  if (all.size() > kMaxMappings) {
    return Error(ErrorCode::kBadPortMappings, "too many port mappings: " + std::to_string(all.size()) + " (at most " +
                                                  std::to_string(kMaxMappings) + " per container)");
  }
  if (auto s = check_no_duplicate_host_ports(all); !s) return s.take_error();
  return all;
}

Status read_mappings_into(const json& j, CniCommand command, NetConfig& c) {
  auto mappings = read_mappings(j);
  if (mappings) {
    c.mappings = std::move(*mappings);
  } else if (command == CniCommand::kDel || command == CniCommand::kGc || command == CniCommand::kStatus) {
    // The ADD that carried them was refused, so they cannot have mapped anything: DEL removes
    // whatever this exact owner holds, by scan, and goes on to the delegate.
    c.mappings_error = mappings.error().msg;
  } else {
    return mappings.take_error();
  }
  return ok_status();
}

// snat, masqAll, deferClose, markMasqBit, and the keys refused.
Status read_options(const json& j, NetConfig& c) {
  // The reference portmap plugin's keys, where they mean the same here; and deferClose.
  for (auto [key, field] : {std::pair{"snat", &c.snat}, {"masqAll", &c.masq_all}, {"deferClose", &c.defer_close}}) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_boolean()) return invalid(std::string("\"") + key + "\" must be true or false");
    *field = it->get<bool>();
  }
  if (auto it = j.find("markMasqBit"); it != j.end() && !it->is_null()) {
    // Accepted for compatibility; this plugin masquerades by set membership, not by mark.
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 31) {
      return invalid("\"markMasqBit\" must be an integer in 0..31");
    }
  }
  for (const char* key : {"conditionsV4", "conditionsV6", "externalSetMarkChain"}) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null() || (it->is_array() && it->empty())) continue;
    return Error(ErrorCode::kUnsupportedField, std::string("\"") + key + "\" is not supported by nft-port-mapper",
                 "it would need nft rule syntax evaluated at run time; use excludeDevices and hostIP bindings, "
                 "or filter in a table of your own");
  }
  return ok_status();
}

// GC: cni.dev/valid-attachments.
Status read_valid_attachments(const json& j, NetConfig& c) {
  auto it = j.find("cni.dev/valid-attachments");
  if (it == j.end() || it->is_null()) return invalid("GC needs \"cni.dev/valid-attachments\"");
  if (!it->is_array()) return invalid("\"cni.dev/valid-attachments\" must be an array");
  for (const auto& a : *it) {
    if (!a.is_object()) return invalid("a valid attachment is not an object");
    auto id = a.find("containerID");
    auto ifn = a.find("ifname");
    if (id == a.end() || !id->is_string() || ifn == a.end() || !ifn->is_string()) {
      return invalid("a valid attachment needs string \"containerID\" and \"ifname\"");
    }
    c.valid_attachments.emplace_back(id->get<std::string>(), ifn->get<std::string>());
  }
  return ok_status();
}

}  // namespace

Result<NetConfig> parse_net_config(const std::string& text, CniCommand command) {
  auto j = read_document(text);
  if (!j) return j.take_error();
  return parse_net_config_document(std::move(*j), command);
}

Result<NetConfig> parse_net_config_document(json j, CniCommand command) {
  if (!j.is_object()) return Error(ErrorCode::kDecodeFailure, "network config is not a JSON object");
  NetConfig c;
  NFTPM_TRY(read_names(j, c));
  NFTPM_TRY(read_exclude_devices(j, c));
  NFTPM_TRY(read_files(j, c));
  NFTPM_TRY(read_attachment(j, c));
  NFTPM_TRY(read_mappings_into(j, command, c));
  NFTPM_TRY(read_options(j, c));
  if (command == CniCommand::kGc) NFTPM_TRY(read_valid_attachments(j, c));
  c.raw = std::move(j);  // not copied: thousands of mappings make a large tree
  return c;
}

}  // namespace nftpm
