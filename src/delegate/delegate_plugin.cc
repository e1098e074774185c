// The delegate as a child process, through a ProcessRunner: no shell, the path resolved on
// CNI_PATH, an environment made of exactly the CNI variables and PATH, the config on stdin and the
// result on stdout, a deadline after which its whole process group is killed (process.cc).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nftpm/delegate.h"
#include "nftpm/process.h"

namespace nftpm {

namespace {

Error delegate_error(const std::string& msg, const std::string& details = {}) {
  return {ErrorCode::kDelegateFailure, msg, details};
}

bool plain_file_name(const std::string& s) {
  if (s.empty() || s == "." || s == ".." || s.size() > 255) return false;
  for (char c : s) {
    if (c == '/' || c == '\0' || static_cast<unsigned char>(c) < 0x20) return false;
  }
  return true;
}

}  // namespace

Result<std::string> find_plugin(const std::string& type, const std::vector<std::string>& dirs,
                                ProcessRunner& processes) {
  if (!plain_file_name(type)) {
    return delegate_error("delegate type '" + type + "' is not a plain plugin name",
                          "a plugin type may not contain '/' or be '.' or '..'");
  }
  if (dirs.empty()) return delegate_error("CNI_PATH is empty: cannot find delegate plugin '" + type + "'");
  std::string why;
  for (const auto& dir : dirs) {
    if (dir.empty() || dir[0] != '/') continue;  // only absolute directories are searched
    std::string path = dir;
    if (path.back() != '/') path += '/';
    path += type;
    switch (processes.inspect(path)) {
      case ProgramFile::kMissing: break;
      case ProgramFile::kNotRegular: why = path + " is not a regular file"; break;
      case ProgramFile::kNotExecutable: why = path + " is not executable"; break;
      case ProgramFile::kExecutable: return path;
    }
  }
  std::string searched;
  for (const auto& d : dirs) searched += (searched.empty() ? "" : ":") + d;
  return delegate_error("delegate plugin '" + type + "' not found on CNI_PATH",
                        why.empty() ? "searched " + searched : why);
}

std::vector<std::string> delegate_environment(CniCommand command, const CniEnv& env) {
  std::vector<std::string> vars = {std::string("CNI_COMMAND=") + command_name(command),
                                   "CNI_CONTAINERID=" + env.container_id, "CNI_IFNAME=" + env.ifname};
  std::string cni_path;
  for (const auto& d : env.path) cni_path += (cni_path.empty() ? "" : ":") + d;
  vars.push_back("CNI_PATH=" + cni_path);
  if (env.netns) vars.push_back("CNI_NETNS=" + *env.netns);
  if (env.args) vars.push_back("CNI_ARGS=" + *env.args);
  vars.push_back("PATH=" + env.sys_path.value_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
  return vars;
}

Result<std::string> ProcessDelegateRunner::run(const std::string& type, CniCommand command, const CniEnv& env,
                                               const std::string& stdin_json, int timeout_seconds) {
  auto path = find_plugin(type, env.path, processes_);
  if (!path) return path.take_error();
  auto run =
      processes_.run({*path, {*path}, delegate_environment(command, env), stdin_json, timeout_seconds, kMaxOutput});
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
