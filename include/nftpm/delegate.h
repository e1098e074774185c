// The delegate plugin (Mesos mode): found on CNI_PATH by its `type`, executed directly (no shell)
// with an explicit environment, its stdin the delegate config, its stdout the result.
#pragma once

#include <string>

#include "nftpm/cni.h"
#include "nftpm/error.h"

namespace nftpm {

class DelegateRunner {
 public:
  virtual ~DelegateRunner() = default;
  // Runs `type` with `command`; returns its stdout (the result) or a kDelegateFailure.
  virtual Result<std::string> run(const std::string& type, CniCommand command, const CniEnv& env,
                                  const std::string& stdin_json, int timeout_seconds) = 0;
};

// Resolves `type` to an executable file in one of the CNI_PATH directories. `type` must be a plain
// file name: no '/', not "." or "..".
Result<std::string> find_plugin(const std::string& type, const std::vector<std::string>& dirs);

class ProcessDelegateRunner : public DelegateRunner {
 public:
  Result<std::string> run(const std::string& type, CniCommand command, const CniEnv& env, const std::string& stdin_json,
                          int timeout_seconds) override;
};

}  // namespace nftpm
