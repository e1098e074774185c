// A ProcessRunner that runs nothing: the programs that "exist" are a map from path to what is
// there, every run is recorded, and each answer is scripted (per program path, in order; a path
// with no script left exits 0 with no output).
#pragma once

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "nftpm/process.h"

namespace nftpm {

class FakeProcessRunner : public ProcessRunner {
 public:
  ProgramFile inspect(const std::string& path) override {
    inspected.push_back(path);
    auto it = files.find(path);
    return it == files.end() ? ProgramFile::kMissing : it->second;
  }

  Result<ProcessResult> run(const ProcessSpec& spec) override {
    runs.push_back(spec);
    auto it = answers.find(spec.path);
    if (it == answers.end() || it->second.empty()) return ProcessResult{"", 0, 0, false, false};
    Result<ProcessResult> r = it->second.front();
    it->second.pop_front();
    return r;
  }

  // --- for tests --------------------------------------------------------------------------------

  // An executable program at `path`.
  void install(const std::string& path) { files[path] = ProgramFile::kExecutable; }
  // The next run of `path` answers this.
  void answer(const std::string& path, Result<ProcessResult> r) { answers[path].push_back(std::move(r)); }
  void exits(const std::string& path, int status, const std::string& out = "") {
    answer(path, ProcessResult{out, status, 0, false, false});
  }

  std::map<std::string, ProgramFile> files;
  std::map<std::string, std::deque<Result<ProcessResult>>> answers;
  std::vector<std::string> inspected;
  std::vector<ProcessSpec> runs;
};

}  // namespace nftpm
