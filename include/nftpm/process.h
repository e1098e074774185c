// Running another program: no shell, an explicit path and environment, stdin fed and stdout
// collected through pipes (stderr inherited), and a deadline after which the program's whole
// process group is killed. Used for the delegate plugin and, by the operator's command line
// only, for iptables-save/iptables-restore.
#pragma once

#include <string>
#include <vector>

#include "nftpm/error.h"

namespace nftpm {

struct ProcessResult {
  std::string out;       // stdout, at most max_output bytes
  int exit_status = -1;  // when it exited
  int term_signal = 0;   // when a signal ended it
  bool timed_out = false;
  bool too_big = false;  // printed more than max_output: killed
};

// Fails only when the program cannot be started (kIoFailure); everything after is in the result.
Result<ProcessResult> run_process(const std::string& path, const std::vector<std::string>& argv,
                                  const std::vector<std::string>& env, const std::string& input, int timeout_seconds,
                                  size_t max_output);

}  // namespace nftpm
