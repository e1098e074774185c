// Results of any version and their conversion to every version, as the plugin does with a
// delegate's output and prevResult.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nftpm/cni.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(data), size), nullptr, false);
  if (j.is_discarded()) return 0;
  for (const auto& v : nftpm::kSupportedVersions) {
    auto r = nftpm::parse_cni_result(j, v);
    if (!r) continue;
    (void)nftpm::container_ips(*r, "eth0");
    for (const auto& to : nftpm::kSupportedVersions) {
      std::string text = nftpm::json_text(nftpm::cni_result_to_json(*r, to));
      // A converted result parses again.
      if (!nftpm::parse_cni_result(nlohmann::json::parse(text), to)) __builtin_trap();
    }
  }
  return 0;
}
