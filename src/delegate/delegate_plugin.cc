// Runs the delegate as a child process: no shell, the path resolved on CNI_PATH, an environment
// made of exactly the CNI variables and PATH, stdin/stdout through pipes, a deadline after which
// the delegate's whole process group is killed.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "nftpm/delegate.h"
#include "nftpm/process.h"

namespace nftpm {

namespace {

Error delegate_error(const std::string& msg, const std::string& details = {}) {
  return Error(ErrorCode::kDelegateFailure, msg, details);
}

bool plain_file_name(const std::string& s) {
  if (s.empty() || s == "." || s == ".." || s.size() > 255) return false;
  for (char c : s) {
    if (c == '/' || c == '\0' || static_cast<unsigned char>(c) < 0x20) return false;
  }
  return true;
}

constexpr size_t kMaxDelegateOutput = 1 << 20;

}  // namespace

Result<std::string> find_plugin(const std::string& type, const std::vector<std::string>& dirs) {
  if (!plain_file_name(type)) {
    return delegate_error("delegate type '" + type + "' is not a plain plugin name",
                          "a plugin type may not contain '/' or be '.' or '..'");
  }
  if (dirs.empty()) return delegate_error("CNI_PATH is empty: cannot find delegate plugin '" + type + "'");
  std::string why;
  for (const auto& dir : dirs) {
    if (dir.empty() || dir[0] != '/') continue;  // only absolute directories are searched
    std::string path = dir + (dir.back() == '/' ? "" : "/") + type;
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) continue;
    if (!S_ISREG(st.st_mode)) {
      why = path + " is not a regular file";
      continue;
    }
    if (access(path.c_str(), X_OK) != 0) {
      why = path + " is not executable";
      continue;
    }
    return path;
  }
  std::string searched;
  for (const auto& d : dirs) searched += (searched.empty() ? "" : ":") + d;
  return delegate_error("delegate plugin '" + type + "' not found on CNI_PATH",
                        why.empty() ? "searched " + searched : why);
}

Result<std::string> ProcessDelegateRunner::run(const std::string& type, CniCommand command, const CniEnv& env,
                                               const std::string& stdin_json, int timeout_seconds) {
  auto path = find_plugin(type, env.path);
  if (!path) return path.take_error();

  std::vector<std::string> vars = {std::string("CNI_COMMAND=") + command_name(command),
                                   "CNI_CONTAINERID=" + env.container_id, "CNI_IFNAME=" + env.ifname};
  std::string cni_path;
  for (const auto& d : env.path) cni_path += (cni_path.empty() ? "" : ":") + d;
  vars.push_back("CNI_PATH=" + cni_path);
  if (env.netns) vars.push_back("CNI_NETNS=" + *env.netns);
  if (env.args) vars.push_back("CNI_ARGS=" + *env.args);
  vars.push_back("PATH=" + env.sys_path.value_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
  auto run = run_process(*path, {*path}, vars, stdin_json, timeout_seconds, kMaxDelegateOutput);
  if (!run) return delegate_error("cannot execute delegate " + *path + ": " + run.error().msg);
  const std::string& out = run->out;
  if (run->timed_out) {
    return delegate_error("delegate " + type + " " + command_name(command) + " timed out after " +
                          std::to_string(timeout_seconds) + "s and was killed");
  }
  if (run->too_big) return delegate_error("delegate " + type + " printed more than 1 MiB");
  if (run->term_signal != 0) {
    return delegate_error("delegate " + type + " " + command_name(command) + " was killed by signal " +
                          std::to_string(run->term_signal));
  }
  if (run->exit_status != 0) {
    // The delegate's own error document, when it printed one, says why.
    std::string msg = "delegate " + type + " " + command_name(command) + " failed with exit status " +
                      std::to_string(run->exit_status);
    auto j = nlohmann::json::parse(out, nullptr, false);
    if (j.is_object() && j.contains("msg") && j["msg"].is_string()) {
      msg += ": " + j["msg"].get<std::string>();
      if (j.contains("details") && j["details"].is_string()) {
        return delegate_error(msg, j["details"].get<std::string>());
      }
      return delegate_error(msg);
    }
    return delegate_error(msg, out.substr(0, 512));
  }
  return out;
}

}  // namespace nftpm
