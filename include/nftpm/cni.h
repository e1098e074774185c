// The CNI protocol: environment, versions, results and the error document.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nftpm/error.h"

namespace nftpm {

enum class CniCommand { kAdd, kDel, kCheck, kVersion, kGc, kStatus };

// What the runtime put in the environment, validated. Only ADD/CHECK need a namespace.
struct CniEnv {
  CniCommand command = CniCommand::kVersion;
  std::string container_id;
  std::optional<std::string> netns;
  std::string ifname;
  std::vector<std::string> path;        // CNI_PATH, split on ':'
  std::optional<std::string> args;      // CNI_ARGS, passed to the delegate untouched
  std::optional<std::string> sys_path;  // PATH, passed to the delegate (bridge runs iptables)
};

// Reads the CNI_* variables through `getenv`, so tests can substitute an environment.
using GetEnv = std::optional<std::string> (*)(const char* name);
std::optional<std::string> process_getenv(const char* name);
Result<CniEnv> parse_cni_env(GetEnv getenv_fn = process_getenv);
Result<CniCommand> parse_cni_command(const std::string& verb);
const char* command_name(CniCommand c);

// --- versions --------------------------------------------------------------------------------

extern const std::vector<std::string> kSupportedVersions;
bool is_supported_version(const std::string& v);
// Compares dotted versions ("0.3.1" < "0.4.0"); unparseable parts compare as 0.
int compare_versions(const std::string& a, const std::string& b);
// A result's shape: the 0.1/0.2 era ("ip4"/"ip6") or the 0.3+ era ("ips"/"interfaces").
bool is_legacy_result_version(const std::string& v);

// --- results ---------------------------------------------------------------------------------

struct CniInterface {
  std::string name;
  std::string mac;
  std::string sandbox;
  nlohmann::json extra = nlohmann::json::object();  // mtu, socketPath... kept as given
};

struct CniIp {
  std::string address;  // CIDR, e.g. 10.1.0.5/16
  std::string gateway;
  std::optional<int> interface;
  int family = 4;
};

struct CniRoute {
  std::string dst;
  std::string gw;
};

// The modern (1.x) model of a result; every version is parsed into it and printed from it.
struct CniResult {
  std::vector<CniInterface> interfaces;
  std::vector<CniIp> ips;
  std::vector<CniRoute> routes;  // 0.2 keeps routes per family: see to_json
  nlohmann::json dns = nlohmann::json::object();
};

// Parses a result of any supported version. `version` is the result's own cniVersion if it has
// one, else the version the caller asked for.
Result<CniResult> parse_cni_result(const nlohmann::json& j, const std::string& version);
nlohmann::json cni_result_to_json(const CniResult& r, const std::string& version);

// The container's addresses on `ifname` (IPs bound to another interface are skipped; IPs with no
// interface index are taken, as old results have none).
std::vector<CniIp> container_ips(const CniResult& r, const std::string& ifname);

// JSON to text that never throws: strings from input may hold invalid UTF-8, which is replaced.
std::string json_text(const nlohmann::json& j);

// --- errors ----------------------------------------------------------------------------------

nlohmann::json cni_error_to_json(const Error& e, const std::string& version);

}  // namespace nftpm
