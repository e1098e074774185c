// The hand-off of netfilter sockets to a child that releases them after the plugin has exited.
#include "nftpm/deferred_close.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace nftpm {
namespace {

// Waits (liveness bound only) for end of file on `fd`; true if it came.
bool eof_comes(int fd) {
  pollfd p{fd, POLLIN, 0};
  char c;
  for (int i = 0; i < 100; ++i) {
    if (poll(&p, 1, 100) > 0) return read(fd, &c, 1) == 0;
  }
  return false;
}

TEST(DeferredClose, TheChildReleasesKeptFdsAndHoldsNoStdio) {
  int kept[2], out[2];
  ASSERT_EQ(pipe(kept), 0);
  ASSERT_EQ(pipe(out), 0);
  pid_t plugin = fork();
  ASSERT_GE(plugin, 0);
  if (plugin == 0) {  // stands for the plugin process: stdout is the caller's pipe
    close(kept[0]);
    close(out[0]);
    dup2(out[1], STDOUT_FILENO);
    close(out[1]);
    enable_deferred_close();
    defer_close_fd(kept[1]);
    hand_off_deferred_closes();
    _exit(0);
  }
  close(kept[1]);
  close(out[1]);
  int status = 0;
  ASSERT_EQ(waitpid(plugin, &status, 0), plugin);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // The caller's stdout reaches end of file: the child kept no copy of it.
  EXPECT_TRUE(eof_comes(out[0]));
  // The kept fd is released in the end, by the child, which then leaves (nothing else holds it).
  EXPECT_TRUE(eof_comes(kept[0]));
  close(out[0]);
  close(kept[0]);
}

TEST(DeferredClose, OffByDefaultClosesAtOnce) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  defer_close_fd(p[1]);  // deferral was never enabled in this process
  pollfd pf{p[0], POLLIN, 0};
  ASSERT_EQ(poll(&pf, 1, 0), 1);
  EXPECT_TRUE(pf.revents & POLLHUP);
  hand_off_deferred_closes();  // nothing kept: no child
  close(p[0]);
}

}  // namespace
}  // namespace nftpm
