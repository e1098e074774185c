// Mesos args and runtimeConfig.portMappings, as JSON: mappings or an error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nftpm/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(data), size), nullptr, false);
  if (j.is_discarded()) return 0;
  for (auto r : {nftpm::parse_mesos_port_mappings(j), nftpm::parse_runtime_port_mappings(j)}) {
    if (!r) continue;
    for (const auto& m : *r) {
      if (m.host_port == 0 || m.container_port == 0) __builtin_trap();
    }
    (void)nftpm::check_no_duplicate_host_ports(*r);
  }
  return 0;
}
