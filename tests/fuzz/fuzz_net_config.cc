// The network config parser, for every verb: any input gets a config or an error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nftpm/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  for (auto cmd : {nftpm::CniCommand::kAdd, nftpm::CniCommand::kDel, nftpm::CniCommand::kGc}) {
    auto c = nftpm::parse_net_config(text, cmd);
    if (c) {
      // What a valid config promises: checked values the rest of the plugin relies on.
      if (!nftpm::valid_network_name(c->name) || !nftpm::valid_chain_name(c->chain)) __builtin_trap();
      for (const auto& m : c->mappings) {
        if (m.host_port == 0 || m.container_port == 0) __builtin_trap();
      }
    } else {
      (void)nftpm::json_text(nftpm::cni_error_to_json(c.error(), "1.0.0"));
    }
  }
  return 0;
}
