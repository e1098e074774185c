#include "nftpm/deferred_close.h"

#include "nftpm/socket_keeper.h"

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <unistd.h>

#include <ctime>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <vector>

namespace nftpm {
namespace {

// Long past an RCU grace period on a busy node (10-30 ms measured here).
constexpr long kSettleNanoseconds = 100'000'000;
bool g_enabled = false;
std::vector<int> g_kept;

}  // namespace

void close_all_fds_but(const std::vector<int>& keep) {
  unsigned from = 0;
  auto close_span = [](unsigned lo, unsigned hi) {
    if (lo > hi) return;
    if (close_range(lo, hi, 0) == 0) return;
    for (unsigned fd = lo; fd <= std::min(hi, 4095u); ++fd) close(static_cast<int>(fd));
  };
  for (int k : keep) {
    if (static_cast<unsigned>(k) > from) close_span(from, static_cast<unsigned>(k) - 1);
    from = static_cast<unsigned>(k) + 1;
  }
  close_span(from, UINT_MAX);
}

namespace {

void close_all(std::vector<int>& fds) {
  for (int fd : fds) close(fd);
  fds.clear();
}

}  // namespace

void enable_deferred_close() {
  g_enabled = true;
}

void close_kept_fds() {
  close_all(g_kept);
}

void close_netfilter_socket(mnl_socket* s) {
  if (s == nullptr) return;
  if (keeper_forget(mnl_socket_get_fd(s))) {
    mnl_socket_close(s);  // the keeper holds it too: never the last reference
    return;
  }
  if (g_enabled) defer_close_fd(fcntl(mnl_socket_get_fd(s), F_DUPFD_CLOEXEC, 0));
  mnl_socket_close(s);  // not the last reference while the dup lives: no wait here
}

void defer_close_fd(int fd) {
  if (fd < 0) return;
  if (g_enabled) {
    g_kept.push_back(fd);
  } else {
    close(fd);
  }
}

void hand_off_deferred_closes() {
  if (g_kept.empty()) return;
  std::vector<int> kept;
  kept.swap(g_kept);
  int parent_gone[2];
  pid_t pid = -1;
  if (pipe2(parent_gone, O_CLOEXEC) == 0) {
    pid = fork();
    if (pid < 0) {
      close(parent_gone[0]);
      close(parent_gone[1]);
    }
  }
  if (pid == 0) {
    // The child: nothing of the caller's (stdout, stderr, the log) stays open here, so the
    // caller sees end of file as soon as the parent exits. Read returns when the parent has
    // exited (its write end closes), so the last release, and the kernel's wait, is ours.
    std::vector<int> keep = kept;
    keep.push_back(parent_gone[0]);
    std::sort(keep.begin(), keep.end());
    close_all_fds_but(keep);
    char c;
    while (read(parent_gone[0], &c, 1) < 0 && errno == EINTR) {
    }
    // The kernel runs the destroy work by itself one grace period after the commit. Released
    // before that, the sockets would make the release flush it while holding the ruleset's
    // commit mutex, so the next plugin call (often the next ADD) would wait instead of us.
    // Released after it, they cost nothing to anyone.
    timespec rest{0, kSettleNanoseconds};
    while (nanosleep(&rest, &rest) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  if (pid > 0) close(parent_gone[0]);  // the write end stays open until this process exits
  close_all(kept);                     // with a child holding them, not the last references
}

}  // namespace nftpm
