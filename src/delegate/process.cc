#include "nftpm/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace nftpm {

namespace {

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

}  // namespace

Result<ProcessResult> run_process(const std::string& path, const std::vector<std::string>& argv,
                                  const std::vector<std::string>& env, const std::string& input, int timeout_seconds,
                                  size_t max_output) {
  std::vector<std::string> vars = env, words = argv;
  std::vector<char*> envp, args;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  for (auto& w : words) args.push_back(w.data());
  args.push_back(nullptr);
  const std::string& stdin_json = input;

  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return Error(ErrorCode::kIoFailure, "pipe: " + std::string(std::strerror(errno)));
  Fd in_r(in_pipe[0]), in_w(in_pipe[1]);
  if (pipe2(out_pipe, O_CLOEXEC) != 0)
    return Error(ErrorCode::kIoFailure, "pipe: " + std::string(std::strerror(errno)));
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
  int rc = posix_spawn(&pid, path.c_str(), &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Error(ErrorCode::kIoFailure, "cannot execute " + path + ": " + std::strerror(rc));
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
        if (out.size() > max_output) {
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
  }
  ProcessResult r;
  r.out = std::move(out);
  r.timed_out = timed_out;
  r.too_big = too_big;
  if (!timed_out && !too_big) {
    if (WIFSIGNALED(status)) r.term_signal = WTERMSIG(status);
    if (WIFEXITED(status)) r.exit_status = WEXITSTATUS(status);
  }
  return r;
}

}  // namespace nftpm
