// Running a program in three steps, each its own function: spawn it (its own process group, stdin
// and stdout on pipes), exchange (feed stdin and collect stdout together, within the deadline and
// the output limit), then wait for its exit, or kill its whole group and reap it.
#include "nftpm/process.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <optional>

namespace nftpm {

namespace {

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd = o.fd;
      o.fd = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
};

using Clock = std::chrono::steady_clock;

// Milliseconds until `deadline` (0 or less: passed), at most `cap`.
long long ms_left(Clock::time_point deadline, long long cap = 1000) {
  long long left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return std::min(left, cap);
}

Error io_error(const std::string& what, int err) {
  return {ErrorCode::kIoFailure, what + ": " + std::strerror(err)};
}

// --- spawn ---------------------------------------------------------------------------------

// A started program: its pid (also its process group), and our ends of its stdin and stdout.
struct Child {
  pid_t pid = -1;
  Fd stdin_w, stdout_r;
};

Result<Child> spawn(const ProcessSpec& spec) {
  std::vector<std::string> vars = spec.env, words = spec.argv;
  std::vector<char*> envp, args;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  for (auto& w : words) args.push_back(w.data());
  args.push_back(nullptr);

  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return io_error("pipe", errno);
  Fd in_r(in_pipe[0]), in_w(in_pipe[1]);
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return io_error("pipe", errno);
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
  Child c;
  int rc = posix_spawn(&c.pid, spec.path.c_str(), &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Error(ErrorCode::kIoFailure, "cannot execute " + spec.path + ": " + std::strerror(rc));
  c.stdin_w = std::move(in_w);
  c.stdout_r = std::move(out_r);
  return c;
}

// --- exchange ------------------------------------------------------------------------------

enum class Ended { kStdoutClosed, kTimedOut, kTooBig };

// Feeds `input` and collects stdout together, so neither side can block the other, until the
// program closes its stdout, the deadline passes or it prints more than `max_output`.
Ended exchange(Child& c, const std::string& input, size_t max_output, Clock::time_point deadline, std::string* out) {
  fcntl(c.stdin_w.fd, F_SETFL, O_NONBLOCK);
  signal(SIGPIPE, SIG_IGN);  // a program that closes its stdin early must not kill us
  size_t written = 0;
  if (input.empty()) c.stdin_w.reset();
  while (c.stdout_r.fd >= 0) {
    long long left = ms_left(deadline);
    if (left <= 0) return Ended::kTimedOut;
    pollfd fds[2];
    int n = 0;
    fds[n++] = {c.stdout_r.fd, POLLIN, 0};
    if (c.stdin_w.fd >= 0) fds[n++] = {c.stdin_w.fd, POLLOUT, 0};
    int pr = poll(fds, n, static_cast<int>(left));
    if (pr < 0 && errno != EINTR) break;
    if (n == 2 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = write(c.stdin_w.fd, input.data() + written, input.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if (w < 0 && errno != EAGAIN) written = input.size();  // it closed stdin: stop feeding
      if (written >= input.size()) c.stdin_w.reset();
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[16384];
      ssize_t r = read(c.stdout_r.fd, buf, sizeof buf);
      if (r > 0) {
        out->append(buf, static_cast<size_t>(r));
        if (out->size() > max_output) {
          out->resize(max_output);
          return Ended::kTooBig;
        }
      } else if (r == 0 || errno != EAGAIN) {
        c.stdout_r.reset();
      }
    }
  }
  return Ended::kStdoutClosed;
}

// --- wait, or kill ---------------------------------------------------------------------------

// The wait status once the program exits, or nullopt if the deadline passes first. A pidfd
// (Linux 5.3) wakes us exactly when it exits; without one, waitpid is polled.
std::optional<int> wait_until(pid_t pid, Clock::time_point deadline) {
  Fd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  for (;;) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    long long left = ms_left(deadline);
    if (left <= 0) return std::nullopt;
    if (pidfd.fd >= 0) {
      pollfd p{pidfd.fd, POLLIN, 0};
      poll(&p, 1, static_cast<int>(left));
    } else {
      usleep(500);
    }
  }
}

// Kills the program's whole process group, reaps the program, and kills whatever it left in its
// group meanwhile.
void kill_group(pid_t pid) {
  kill(-pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  kill(-pid, SIGKILL);
}

class SystemProcessRunner : public ProcessRunner {
 public:
  ProgramFile inspect(const std::string& path) override {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return ProgramFile::kMissing;
    if (!S_ISREG(st.st_mode)) return ProgramFile::kNotRegular;
    if (access(path.c_str(), X_OK) != 0) return ProgramFile::kNotExecutable;
    return ProgramFile::kExecutable;
  }

  Result<ProcessResult> run(const ProcessSpec& spec) override {
    auto deadline = Clock::now() + std::chrono::seconds(spec.timeout_seconds);
    auto child = spawn(spec);
    if (!child) return child.take_error();
    ProcessResult r;
    Ended ended = exchange(*child, spec.input, spec.max_output, deadline, &r.out);
    if (ended == Ended::kStdoutClosed) {
      if (auto status = wait_until(child->pid, deadline)) {
        if (WIFSIGNALED(*status)) r.term_signal = WTERMSIG(*status);
        if (WIFEXITED(*status)) r.exit_status = WEXITSTATUS(*status);
        return r;
      }
      ended = Ended::kTimedOut;
    }
    r.timed_out = ended == Ended::kTimedOut;
    r.too_big = ended == Ended::kTooBig;
    kill_group(child->pid);
    return r;
  }
};

}  // namespace

ProcessRunner& system_processes() {
  static SystemProcessRunner runner;
  return runner;
}

Result<ProcessResult> run_process(const ProcessSpec& spec) {
  return system_processes().run(spec);
}

}  // namespace nftpm
