// Running another program: no shell, an explicit path and environment, stdin fed and stdout
// collected through pipes (stderr inherited), and a deadline after which the program's whole
// process group is killed. Used for the delegate plugin and, by the operator's command line
// only, for iptables-save/iptables-restore.
//
// Behind a small interface (ProcessRunner) with the real one here and a fake in tests/fakes, so
// the code that finds and runs programs is unit-tested without running any.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "nftpm/error.h"

namespace nftpm {

// One program to run.
struct ProcessSpec {
  std::string path;               // absolute; never looked up on PATH
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> env;   // "NAME=value", the program's whole environment
  std::string input;              // written to its stdin, which is then closed
  int timeout_seconds = 60;       // then its process group is killed
  size_t max_output = 1u << 20;   // more on stdout than this: killed
};

struct ProcessResult {
  std::string out;       // stdout, at most max_output bytes
  int exit_status = -1;  // when it exited
  int term_signal = 0;   // when a signal ended it
  bool timed_out = false;
  bool too_big = false;  // printed more than max_output: killed
};

// What is at a path a program is looked for at.
enum class ProgramFile { kMissing, kNotRegular, kNotExecutable, kExecutable };

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // stat(2) and access(X_OK) of `path`.
  virtual ProgramFile inspect(const std::string& path) = 0;
  // Fails only when the program cannot be started (kIoFailure); everything after is in the result.
  virtual Result<ProcessResult> run(const ProcessSpec& spec) = 0;
};

// The real one: posix_spawn, pipes, poll and a pidfd.
ProcessRunner& system_processes();

// system_processes().run(), for callers with no runner to hand.
Result<ProcessResult> run_process(const ProcessSpec& spec);

}  // namespace nftpm
