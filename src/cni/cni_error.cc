#include "nftpm/cni.h"

namespace nftpm {

std::string json_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json cni_error_to_json(const Error& e, const std::string& version) {
  nlohmann::json j;
  j["cniVersion"] = version.empty() ? "0.1.0" : version;
  j["code"] = static_cast<int>(e.code);
  j["msg"] = e.msg;
  if (!e.details.empty()) j["details"] = e.details;
  return j;
}

}  // namespace nftpm
