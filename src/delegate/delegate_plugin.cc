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

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
};

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
  std::vector<char*> envp;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::string argv0 = *path;
  char* argv[] = {argv0.data(), nullptr};

  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return delegate_error("pipe: " + std::string(std::strerror(errno)));
  Fd in_r(in_pipe[0]), in_w(in_pipe[1]);
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return delegate_error("pipe: " + std::string(std::strerror(errno)));
  Fd out_r(out_pipe[0]), out_w(out_pipe[1]);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_r.fd, 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.fd, 1);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group, so a timeout kills whatever it started too; default signal handling.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, path->c_str(), &fa, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return delegate_error("cannot execute delegate " + *path + ": " + std::strerror(rc));
  in_r.reset();
  out_w.reset();

  // Feed stdin and collect stdout together, so neither side can block the other.
  fcntl(in_w.fd, F_SETFL, O_NONBLOCK);
  signal(SIGPIPE, SIG_IGN);
  std::string out;
  size_t written = 0;
  bool timed_out = false, too_big = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  while (out_r.fd >= 0) {
    pollfd fds[2];
    int n = 0;
    fds[n++] = {out_r.fd, POLLIN, 0};
    if (in_w.fd >= 0) fds[n++] = {in_w.fd, POLLOUT, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    int pr = poll(fds, n, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (pr < 0 && errno != EINTR) break;
    if (n == 2 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = write(in_w.fd, stdin_json.data() + written, stdin_json.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if (w < 0 && errno != EAGAIN) written = stdin_json.size();  // it closed stdin: stop feeding
      if (written >= stdin_json.size()) in_w.reset();
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[16384];
      ssize_t r = read(out_r.fd, buf, sizeof buf);
      if (r > 0) {
        out.append(buf, static_cast<size_t>(r));
        if (out.size() > kMaxDelegateOutput) {
          too_big = true;
          break;
        }
      } else if (r == 0 || errno != EAGAIN) {
        out_r.reset();
      }
    }
  }
  if (timed_out || too_big) kill(-pid, SIGKILL);
  int status = 0;
  // stdout is closed: wait for the exit within what is left of the deadline. A pidfd (Linux 5.3)
  // wakes us exactly when it exits; without one, poll waitpid.
  if (!timed_out && !too_big) {
    Fd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
    for (;;) {
      if (waitpid(pid, &status, WNOHANG) == pid) break;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        timed_out = true;
        kill(-pid, SIGKILL);
        break;
      }
      if (pidfd.fd >= 0) {
        pollfd p{pidfd.fd, POLLIN, 0};
        poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
      } else {
        usleep(500);
      }
    }
  }
  if (timed_out || too_big) {
    waitpid(pid, &status, 0);
    kill(-pid, SIGKILL);  // anything it left in its group
    if (timed_out) {
      return delegate_error("delegate " + type + " " + command_name(command) + " timed out after " +
                            std::to_string(timeout_seconds) + "s and was killed");
    }
    return delegate_error("delegate " + type + " printed more than 1 MiB");
  }
  if (WIFSIGNALED(status)) {
    return delegate_error("delegate " + type + " " + command_name(command) + " was killed by signal " +
                          std::to_string(WTERMSIG(status)));
  }
  if (WEXITSTATUS(status) != 0) {
    // The delegate's own error document, when it printed one, says why.
    std::string msg = "delegate " + type + " " + command_name(command) + " failed with exit status " +
                      std::to_string(WEXITSTATUS(status));
    auto j = nlohmann::json::parse(out, nullptr, false);
    if (j.is_object() && j.contains("msg") && j["msg"].is_string()) {
      msg += ": " + j["msg"].get<std::string>();
      if (j.contains("details") && j["details"].is_string())
        return delegate_error(msg, j["details"].get<std::string>());
      return delegate_error(msg);
    }
    return delegate_error(msg, out.substr(0, 512));
  }
  return out;
}

}  // namespace nftpm
