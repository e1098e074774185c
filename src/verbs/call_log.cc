#include "nftpm/call_log.h"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

namespace nftpm {

bool parse_log_level(const std::string& s, LogLevel* out) {
  if (s == "error")
    *out = LogLevel::kError;
  else if (s == "warn" || s == "warning")
    *out = LogLevel::kWarn;
  else if (s == "info")
    *out = LogLevel::kInfo;
  else if (s == "debug")
    *out = LogLevel::kDebug;
  else
    return false;
  return true;
}

CallLog::CallLog(const std::string& file, LogLevel level) : level_(level) {
  if (file.empty()) return;
  int fd = open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd >= 0) {
    fd_ = fd;
    own_fd_ = true;
  } else {
    fprintf(stderr, "nft-port-mapper: cannot open logFile %s; logging to stderr\n", file.c_str());
  }
}

CallLog::~CallLog() {
  if (own_fd_) close(fd_);
}

void CallLog::log(LogLevel level, const std::string& text) {
  if (!enabled(level)) return;
  timeval tv{};
  gettimeofday(&tv, nullptr);
  tm utc{};
  gmtime_r(&tv.tv_sec, &utc);
  char stamp[40];
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  static const char* names[] = {"error", "warn", "info", "debug"};
  char head[96];
  snprintf(head, sizeof head, "%s.%03ldZ nft-port-mapper[%d] %s ", stamp, static_cast<long>(tv.tv_usec / 1000),
           static_cast<int>(getpid()), names[static_cast<int>(level)]);
  std::string line = head + subject_ + (subject_.empty() ? "" : ": ") + text;
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';  // one step, one line, whatever the text holds
  }
  line += '\n';
  ssize_t unused = write(fd_, line.data(), line.size());
  (void)unused;
}

void CallLog::step(LogLevel level, const std::string& text, std::chrono::steady_clock::time_point since) {
  if (!enabled(level)) return;
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
  char took[32];
  snprintf(took, sizeof took, " (%.1f ms)", ms);
  log(level, text + took);
}

}  // namespace nftpm
