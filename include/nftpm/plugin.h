// The CNI verbs, from validated input to a result: protocol code, separate from nftables code.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "nftpm/cni.h"
#include "nftpm/delegate.h"
#include "nftpm/nft.h"

namespace nftpm {

struct PluginOutput {
  std::string stdout_text;  // a result or an error document
  int exit_code = 0;
};

// Opens the kernel interface only when the verb needs it.
using NftablesFactory = std::function<Result<std::unique_ptr<Nftables>>()>;

PluginOutput run_plugin(GetEnv getenv_fn, const std::string& stdin_text, const NftablesFactory& nft,
                        DelegateRunner& delegate);

}  // namespace nftpm
