// The delegate plugin (Mesos mode): found on CNI_PATH by its `type`, executed directly (no shell)
// with an explicit environment, its stdin the delegate config, its stdout the result.
#pragma once

#include <string>
#include <vector>

#include "nftpm/cni.h"
#include "nftpm/error.h"
#include "nftpm/process.h"

namespace nftpm {

class DelegateRunner {
 public:
  virtual ~DelegateRunner() = default;
  // Runs `type` with `command`; returns its stdout (the result) or a kDelegateFailure.
  virtual Result<std::string> run(const std::string& type, CniCommand command, const CniEnv& env,
                                  const std::string& stdin_json, int timeout_seconds) = 0;
};

// Resolves `type` to an executable file in one of the CNI_PATH directories (absolute ones only,
// in order). `type` must be a plain file name: no '/', not "." or "..".
Result<std::string> find_plugin(const std::string& type, const std::vector<std::string>& dirs,
                                ProcessRunner& processes = system_processes());

// The delegate's environment: exactly the CNI variables of `env` (with `command`) and PATH.
std::vector<std::string> delegate_environment(CniCommand command, const CniEnv& env);

// Finds the delegate with find_plugin and runs it through `processes`: argv is its path alone,
// stdin the delegate config; a timeout, a signal, a non-zero exit status or more than 1 MiB of
// output is a kDelegateFailure (with the delegate's own error message when it printed one).
class ProcessDelegateRunner : public DelegateRunner {
 public:
  explicit ProcessDelegateRunner(ProcessRunner& processes = system_processes()) : processes_(processes) {}
  Result<std::string> run(const std::string& type, CniCommand command, const CniEnv& env, const std::string& stdin_json,
                          int timeout_seconds) override;

  static constexpr size_t kMaxOutput = 1 << 20;

 private:
  ProcessRunner& processes_;
};

}  // namespace nftpm
