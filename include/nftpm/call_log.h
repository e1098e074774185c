// One line per step of a plugin call, to the config's `logFile` or to stderr, never stdout:
//   2026-11-22T19:50:01.123Z nft-port-mapper[812] ADD net=mesos id=6c4f… if=eth0: added tcp/8080 -> 10.1.0.5:80 (0.9
//   ms)
// Each line is one write(2) on a file opened O_APPEND, so concurrent calls never interleave.
#pragma once

#include <chrono>
#include <string>

namespace nftpm {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };
bool parse_log_level(const std::string& s, LogLevel* out);

class CallLog {
 public:
  CallLog() = default;
  // `file` empty: stderr. Lines above `level` are dropped.
  CallLog(const std::string& file, LogLevel level);
  ~CallLog();
  CallLog(const CallLog&) = delete;
  CallLog& operator=(const CallLog&) = delete;

  // Who the lines are about: "ADD net=… id=… if=…".
  void set_subject(std::string s) { subject_ = std::move(s); }
  void log(LogLevel level, const std::string& text);
  // A step that took time: " (N ms)" from `since` is appended.
  void step(LogLevel level, const std::string& text, std::chrono::steady_clock::time_point since);
  bool enabled(LogLevel level) const { return level <= level_; }

 private:
  int fd_ = 2;
  bool own_fd_ = false;
  LogLevel level_ = LogLevel::kWarn;
  std::string subject_;
};

}  // namespace nftpm
