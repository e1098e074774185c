#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/stat.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "nftpm/socket_keeper.h"
#include "test_values.h"

// The keeper's protocol and checks, with a keeper on a thread of this process under a name of
// its own (opening netfilter sockets changes nothing: no message is sent on them).
namespace nftpm {
namespace {

KeeperConfig test_config(const std::string& dir) {
  KeeperConfig c;
  c.dir = dir;
  c.idle_ms = 300;
  return c;
}

sockaddr_un unix_address(const std::string& path, socklen_t* len) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return a;
}

int listen_on(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  socklen_t len;
  sockaddr_un a = unix_address(path, &len);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(fd, 16) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int bound_netfilter_socket() {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  sockaddr_nl a{};
  a.nl_family = AF_NETLINK;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

uint32_t portid_of(int fd) {
  sockaddr_nl a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return a.nl_pid;
}

// One message from the keeper, read without any of the client's checks: its tag (-1 when nothing
// came within 2 s or the connection ended), and in *fd the fd that came with it (-1 if none).
int raw_receive(int conn, int* fd) {
  *fd = -1;
  pollfd p{conn, POLLIN, 0};
  if (poll(&p, 1, 2000) != 1) return -1;
  char tag = 0;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  iovec iov{&tag, 1};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  if (recvmsg(conn, &m, MSG_CMSG_CLOEXEC) != 1) return -1;
  if (cmsghdr* h = CMSG_FIRSTHDR(&m); h != nullptr) std::memcpy(fd, CMSG_DATA(h), sizeof *fd);
  return static_cast<unsigned char>(tag);
}

int raw_connect(const std::string& path) {
  int conn = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  socklen_t len;
  sockaddr_un a = unix_address(path, &len);
  if (connect(conn, reinterpret_cast<sockaddr*>(&a), len) != 0) {
    close(conn);
    return -1;
  }
  return conn;
}

// Connects to the keeper and asks for a socket without any of the client's checks: whether one
// came (as the greeting or as the answer).
bool raw_borrow(const std::string& path) {
  int conn = raw_connect(path);
  if (conn < 0) return false;
  char tag = 'G';
  int fd = -1;
  bool got = send(conn, &tag, 1, MSG_NOSIGNAL) == 1 && raw_receive(conn, &fd) >= 0 && fd >= 0;
  if (fd >= 0) close(fd);
  close(conn);
  return got;
}

class SocketKeeperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("keeper");
    config_ = test_config(dir_ + "/keeper");
    path_ = keeper_path(config_);
    ASSERT_FALSE(path_.empty());
    int lfd = listen_on(path_);
    ASSERT_GE(lfd, 0) << std::strerror(errno);
    keeper_ = std::thread([lfd, p = path_, c = config_] { run_keeper(lfd, p, c); });
  }
  void TearDown() override {
    disable_socket_keeper();
    if (keeper_.joinable()) keeper_.join();  // returns once idle: the test's check of idle exit
    struct stat st {};
    EXPECT_NE(stat(path_.c_str(), &st), 0) << "an idle keeper removes its file";
    std::filesystem::remove_all(dir_);
  }
  std::string dir_, path_;
  KeeperConfig config_;
  std::thread keeper_;
};

TEST_F(SocketKeeperTest, ALentSocketIsLentOutAgainNeverReleased) {
  enable_socket_keeper(config_);
  EXPECT_EQ(keeper_borrow_socket(), -1);  // nothing idle yet
  int mine = bound_netfilter_socket();
  ASSERT_GE(mine, 0);
  uint32_t portid = portid_of(mine);
  ASSERT_TRUE(keeper_lend_socket(mine));
  EXPECT_TRUE(keeper_forget(mine));
  EXPECT_FALSE(keeper_forget(mine));
  close(mine);  // not the last reference: the keeper holds it

  // This "call" ends (its connection closes); the next one gets the same socket back.
  disable_socket_keeper();
  enable_socket_keeper(config_);
  int borrowed = -1;
  for (int i = 0; i < 100 && borrowed < 0; ++i) {  // the keeper sees the close asynchronously
    borrowed = keeper_borrow_socket();
    if (borrowed < 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_GE(borrowed, 0);
  EXPECT_EQ(portid_of(borrowed), portid) << "the same kernel socket, still bound";
  EXPECT_TRUE(keeper_forget(borrowed));
  close(borrowed);
  EXPECT_EQ(keeper_borrow_socket(), -1) << "lent out once at a time";
}

TEST_F(SocketKeeperTest, GreetsACallWithAnIdleSocketBeforeItAsks) {
  enable_socket_keeper(config_);
  int mine = bound_netfilter_socket();
  ASSERT_GE(mine, 0);
  uint32_t portid = portid_of(mine);
  ASSERT_TRUE(keeper_lend_socket(mine));  // the greeting (none idle) is read first, not taken for 'K'
  keeper_forget(mine);
  close(mine);
  disable_socket_keeper();

  // A connection that sends nothing receives the idle socket.
  int conn = -1, greeted = -1;
  for (int i = 0; i < 100 && greeted < 0; ++i) {  // the keeper sees the first call's close asynchronously
    if (conn >= 0) close(conn);
    conn = raw_connect(path_);
    ASSERT_GE(conn, 0);
    int tag = raw_receive(conn, &greeted);
    ASSERT_TRUE(tag == 'Y' || tag == 'N') << "a greeting is 'Y' + fd or 'N', not " << tag;
    ASSERT_EQ(tag == 'Y', greeted >= 0);
    if (greeted < 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_GE(greeted, 0);
  EXPECT_EQ(portid_of(greeted), portid);
  close(greeted);
  close(conn);  // back to the pool

  // The client's way: connected early, the greeting read by the first borrow.
  enable_socket_keeper(config_);
  int borrowed = -1;
  for (int i = 0; i < 100 && borrowed < 0; ++i) {
    disable_socket_keeper();
    enable_socket_keeper(config_);
    keeper_preconnect();
    borrowed = keeper_borrow_socket();
    if (borrowed < 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_GE(borrowed, 0);
  EXPECT_EQ(portid_of(borrowed), portid);
  keeper_forget(borrowed);
  close(borrowed);
}

TEST_F(SocketKeeperTest, RefusesWhatIsNotANetfilterSocketOfThisNamespace) {
  enable_socket_keeper(config_);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  EXPECT_FALSE(keeper_lend_socket(fds[0]));
  int route = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  ASSERT_GE(route, 0);
  EXPECT_FALSE(keeper_lend_socket(route));
  EXPECT_FALSE(keeper_forget(fds[0]));
  close(fds[0]);
  close(fds[1]);
  close(route);
}

TEST_F(SocketKeeperTest, LendsNothingToAnotherUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  enable_socket_keeper(config_);
  int mine = bound_netfilter_socket();
  ASSERT_TRUE(keeper_lend_socket(mine));
  keeper_forget(mine);
  close(mine);
  disable_socket_keeper();  // the socket is idle in the keeper now
  ASSERT_EQ(chmod(dir_.c_str(), 0711), 0);
  ASSERT_EQ(chmod(config_.dir.c_str(), 0711), 0);
  ASSERT_EQ(chmod(path_.c_str(), 0777), 0);
  pid_t child = fork();
  if (child == 0) {
    // A netfilter socket carries its opener's capabilities: nobody else may have one.
    // Asked the keeper's way, by hand (our client would not even trust a keeper of root's), with
    // the directory and the socket file opened up: the keeper's own check is what is tested.
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    _exit(raw_borrow(path_) ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "another user borrowed root's netfilter socket";
  ASSERT_EQ(chmod(config_.dir.c_str(), 0700), 0);
  // Control: root, the keeper's own user, does get it.
  enable_socket_keeper(config_);
  int borrowed = -1;
  for (int i = 0; i < 100 && borrowed < 0; ++i) {
    borrowed = keeper_borrow_socket();
    if (borrowed < 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(borrowed, 0);
  keeper_forget(borrowed);
  close(borrowed);
}

TEST(SocketKeeper, NoKeeperUnderADirectoryOthersMayEnter) {
  std::string dir = make_temp_dir("keeper");
  KeeperConfig c = test_config(dir + "/keeper");
  ASSERT_FALSE(keeper_path(c).empty()) << "control: made 0700, it is trusted";
  ASSERT_EQ(chmod(c.dir.c_str(), 0755), 0);
  EXPECT_EQ(keeper_path(c), "");
  EXPECT_FALSE(spawn_keeper(c));
  enable_socket_keeper(c);
  EXPECT_EQ(keeper_borrow_socket(), -1);
  disable_socket_keeper();
  ASSERT_EQ(symlink(c.dir.c_str(), (dir + "/link").c_str()), 0);
  ASSERT_EQ(chmod(c.dir.c_str(), 0700), 0);
  EXPECT_EQ(keeper_path(test_config(dir + "/link")), "") << "a symbolic link is not the directory";
  EXPECT_EQ(keeper_path(test_config("relative/dir")), "");
  std::filesystem::remove_all(dir);
}

TEST(SocketKeeper, OffMeansNoKeeper) {
  disable_socket_keeper();
  EXPECT_EQ(keeper_borrow_socket(), -1);
  int mine = bound_netfilter_socket();
  EXPECT_FALSE(keeper_lend_socket(mine));
  close(mine);
}

TEST(SocketKeeper, AKeeperThatNeverAnswersCostsTheCallASecondNotItsLife) {
  std::string dir = make_temp_dir("keeper");
  KeeperConfig c = test_config(dir + "/keeper");
  std::string path = keeper_path(c);
  ASSERT_FALSE(path.empty());
  int lfd = listen_on(path);  // accepts into its backlog, never answers: a stopped keeper
  ASSERT_GE(lfd, 0);
  enable_socket_keeper(c);
  keeper_preconnect();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(keeper_borrow_socket(), -1);
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, std::chrono::milliseconds(900)) << "control: it did wait for the greeting";
  EXPECT_LT(waited, std::chrono::seconds(5));
  int mine = bound_netfilter_socket();
  ASSERT_GE(mine, 0);
  EXPECT_FALSE(keeper_lend_socket(mine)) << "after no answer, the call goes on without a keeper";
  EXPECT_FALSE(keeper_forget(mine));
  close(mine);
  disable_socket_keeper();
  close(lfd);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace nftpm
