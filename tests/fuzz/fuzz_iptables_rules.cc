// iptables-save output as migrate-from-iptables reads it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nftpm/iptables_migration.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto r = nftpm::parse_old_plugin_rules(text, "MESOS-TEST-PORT-MAPPER");
  for (const auto& m : r.mappings) {
    if (m.mapping.host_port == 0 || m.mapping.container_port == 0) __builtin_trap();
  }
  (void)nftpm::removal_script(r);
  return 0;
}
