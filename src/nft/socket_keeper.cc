#include "nftpm/socket_keeper.h"

#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "nftpm/deferred_close.h"
#include "nftpm/netns.h"

namespace nftpm {
namespace {

// The protocol, one byte per message, an fd along where said:
//   keeper -> call  on accepting it, a greeting: 'Y' + fd (an idle socket, lent) | 'N' (none idle)
//   call -> keeper  'G' (give me an idle socket)      'P' + fd (hold this one of mine)
//   keeper -> call  'Y' + fd | 'N' (none idle)         'K' (held) | 'R' (refused)
// The greeting saves a call the round trip of its first 'G', and arrives while the call parses
// its config (keeper_preconnect). It is version 2 of the protocol, hence the file's name
// (keeper_path): a call never waits for a greeting from a keeper started by an older binary.
constexpr char kGive = 'G', kHold = 'P', kHere = 'Y', kNone = 'N', kHeld = 'K';
constexpr char kRefused = 'R';

bool g_enabled = false;
volatile sig_atomic_t g_keeper_stop = 0;  // SIGTERM/SIGINT in a spawned keeper: remove the file, exit
KeeperConfig g_config;
int g_conn = -2;              // -2: not tried yet; -1: no keeper; else our connection to it
bool g_greeting_due = false;  // connected, the keeper's greeting not read yet
std::set<int> g_held;         // fds of this process the keeper also holds

bool unix_address(const std::string& path, sockaddr_un* a, socklen_t* len) {
  *a = sockaddr_un{};
  a->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a->sun_path) return false;
  std::memcpy(a->sun_path, path.c_str(), path.size() + 1);
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return true;
}

bool peer_is_us(int conn) {
  ucred cred{};
  socklen_t len = sizeof cred;
  return getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == geteuid();
}

bool send_message(int conn, char tag, int fd = -1) {
  iovec iov{&tag, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  if (fd >= 0) {
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    cmsghdr* h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(h), &fd, sizeof fd);
  }
  ssize_t n;
  do {
    n = sendmsg(conn, &m, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == 1;
}

// The tag received (-1 at end of connection or on error); *fd the fd that came with it, or -1.
int receive_message(int conn, int* fd) {
  char tag = 0;
  iovec iov{&tag, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  *fd = -1;
  ssize_t n;
  do {
    n = recvmsg(conn, &m, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  for (cmsghdr* h = CMSG_FIRSTHDR(&m); h != nullptr; h = CMSG_NXTHDR(&m, h)) {
    if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) std::memcpy(fd, CMSG_DATA(h), sizeof(int));
  }
  if (n <= 0) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
    return -1;
  }
  return static_cast<unsigned char>(tag);
}

// A bound netfilter netlink socket of the caller's own network namespace.
bool is_our_netfilter_socket(int fd) {
  int domain = 0, protocol = 0;
  socklen_t len = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_NETLINK) return false;
  len = sizeof protocol;
  if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) != 0 || protocol != NETLINK_NETFILTER) return false;
  uint64_t ours = this_netns_cookie();
  return ours != 0 && netns_cookie(fd) == ours;
}

int connect_keeper(const KeeperConfig& config) {
  sockaddr_un a;
  socklen_t len;
  if (!unix_address(keeper_path(config), &a, &len)) return -1;
  int conn = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (conn < 0) return -1;
  if (connect(conn, reinterpret_cast<sockaddr*>(&a), len) != 0 || !peer_is_us(conn)) {
    close(conn);  // none, or somebody else's socket under our name: not trusted
    return -1;
  }
  // A keeper that does not answer (stopped, stuck) costs a call a second, never the call itself:
  // the call then goes on without one.
  timeval patience{1, 0};
  setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
  return conn;
}

int keeper_connection() {
  if (g_conn == -2) {
    g_conn = -1;
    if (!g_enabled) return -1;
    g_conn = connect_keeper(g_config);
    if (g_conn < 0 && spawn_keeper(g_config)) g_conn = connect_keeper(g_config);
    g_greeting_due = g_conn >= 0;
  }
  return g_conn;
}

// After a keeper failed to answer: this call goes on without one.
void hang_up() {
  if (g_conn >= 0) close(g_conn);
  g_conn = -1;
  g_greeting_due = false;
}

// The keeper's answer to what this call sent, or its greeting; hangs up when none comes.
int answer(int conn, int* fd) {
  int tag = receive_message(conn, fd);
  if (tag < 0) hang_up();
  return tag;
}

// The keeper's greeting: the socket it came with (-1 if none, or already read).
int read_greeting(int conn) {
  if (!g_greeting_due) return -1;
  g_greeting_due = false;
  int fd;
  if (answer(conn, &fd) != kHere) {
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

// Whatever a previous borrower left unread (a crash half way through a dump) goes now.
void drain(int fd) {
  char junk[8192];
  while (recv(fd, junk, sizeof junk, MSG_DONTWAIT) > 0) {
  }
}

class Keeper {
 public:
  Keeper(int listen_fd, std::string path, KeeperConfig config)
      : listen_(listen_fd), path_(std::move(path)), config_(std::move(config)) {
    struct stat st {};
    if (stat(path_.c_str(), &st) == 0) file_ = {st.st_dev, st.st_ino};
  }

  void run() {
    int quiet_ms = 0;
    constexpr int kTickMs = 250;
    for (;;) {
      std::vector<pollfd> fds{{listen_, POLLIN, 0}};
      for (const auto& [conn, held] : lent_) fds.push_back({conn, POLLIN, 0});
      int n = poll(fds.data(), fds.size(), kTickMs);
      if (g_keeper_stop != 0 || (n < 0 && errno != EINTR)) break;
      if (n <= 0) {
        quiet_ms += kTickMs;
        if (lent_.empty() && quiet_ms >= config_.idle_ms) break;
        continue;
      }
      quiet_ms = 0;
      if (fds[0].revents & POLLIN) accept_call();
      for (size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents != 0) serve(fds[i].fd);
      }
    }
    // No new call reaches this keeper once its file is gone; the next call starts another. The
    // file is removed only while it is still ours (another keeper may have replaced it).
    struct stat st {};
    if (stat(path_.c_str(), &st) == 0 && st.st_dev == file_.first && st.st_ino == file_.second) unlink(path_.c_str());
    // The idle sockets are released long after any commit: nothing is pending, nobody waits.
    close(listen_);
    for (int fd : idle_) close(fd);
    for (auto& [conn, held] : lent_) {
      for (int fd : held) close(fd);
      close(conn);
    }
  }

 private:
  void accept_call() {
    int conn = accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) return;
    if (!peer_is_us(conn)) {  // a netfilter socket is root's power: never to another user
      close(conn);
      return;
    }
    lent_[conn];
    give(conn);  // the greeting
  }

  void give(int conn) {
    if (idle_.empty()) {
      send_message(conn, kNone);
      return;
    }
    int s = idle_.back();
    idle_.pop_back();
    drain(s);
    if (send_message(conn, kHere, s)) {
      lent_[conn].push_back(s);
    } else {
      idle_.push_back(s);
    }
  }

  void serve(int conn) {
    int fd;
    int tag = receive_message(conn, &fd);
    if (tag == kGive) {
      give(conn);
    } else if (tag == kHold && fd >= 0 && is_our_netfilter_socket(fd)) {
      lent_[conn].push_back(fd);
      send_message(conn, kHeld);
    } else if (tag < 0) {  // the call has exited: its sockets are idle again
      for (int s : lent_[conn]) {
        if (idle_.size() < config_.max_idle_sockets) {
          idle_.push_back(s);
        } else {
          close(s);
        }
      }
      lent_.erase(conn);
      close(conn);
    } else {
      if (fd >= 0) close(fd);
      send_message(conn, kRefused);
    }
  }

  int listen_;
  std::string path_;
  KeeperConfig config_;
  std::pair<dev_t, ino_t> file_{0, 0};
  std::vector<int> idle_;
  std::map<int, std::vector<int>> lent_;  // a call's connection -> the sockets it has
};

}  // namespace

void enable_socket_keeper(const KeeperConfig& config) {
  g_enabled = true;
  g_config = config;
  g_conn = -2;
  g_greeting_due = false;
}

void keeper_preconnect() {
  if (!g_enabled || g_conn != -2) return;
  int conn = connect_keeper(g_config);
  if (conn < 0) return;  // none yet: the first borrow starts one
  g_conn = conn;
  g_greeting_due = true;
}

int keeper_borrow_socket() {
  int conn = keeper_connection();
  if (conn < 0) return -1;
  int fd = -1;
  if (g_greeting_due) {
    fd = read_greeting(conn);
    if (fd < 0) return -1;  // none idle: the caller opens its own and lends it
  } else {
    if (!send_message(conn, kGive)) return -1;
    if (answer(conn, &fd) != kHere || fd < 0) return -1;
  }
  if (!is_our_netfilter_socket(fd)) {
    close(fd);
    return -1;
  }
  g_held.insert(fd);
  return fd;
}

bool keeper_lend_socket(int fd) {
  int conn = keeper_connection();
  if (conn < 0) return false;
  // A greeting still unread would be taken for the answer; a socket it brought stays the
  // keeper's (closing this copy releases nothing).
  if (int greeted = read_greeting(conn); greeted >= 0) close(greeted);
  if (g_conn < 0) return false;  // no greeting came: hung up
  if (!send_message(conn, kHold, fd)) return false;
  int none;
  if (answer(conn, &none) != kHeld) {
    if (none >= 0) close(none);
    return false;
  }
  g_held.insert(fd);
  return true;
}

void disable_socket_keeper() {
  g_enabled = false;
  hang_up();
}

bool keeper_forget(int fd) {
  return g_held.erase(fd) != 0;
}

void run_keeper(int listen_fd, const std::string& path, const KeeperConfig& config) {
  Keeper(listen_fd, path, config).run();
}

std::string keeper_path(const KeeperConfig& config) {
  if (config.dir.empty() || config.dir[0] != '/') return "";
  // There already but in the first call of a boot: one lstat, and mkdir only when it is missing.
  struct stat st {};
  if (lstat(config.dir.c_str(), &st) != 0) {
    if (errno != ENOENT || (mkdir(config.dir.c_str(), 0700) != 0 && errno != EEXIST)) return "";
    if (lstat(config.dir.c_str(), &st) != 0) return "";
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
    return "";  // not a directory only we may enter: no keeper
  }
  // The namespace's cookie (never reused); before 5.14 its inode number.
  uint64_t ns = this_netns_id();
  if (ns == 0) return "";
  std::string id = (ns & kNetnsInodeBit) != 0 ? "ino" + std::to_string(ns & ~kNetnsInodeBit) : std::to_string(ns);
  // "keeper2": the protocol with a greeting (see the top of this file).
  return config.dir + "/keeper2-" + id + ".sock";
}

bool spawn_keeper(const KeeperConfig& config) {
  std::string path = keeper_path(config);
  std::string fresh = path + "." + std::to_string(getpid());
  sockaddr_un a;
  socklen_t len;
  if (path.empty() || !unix_address(fresh, &a, &len)) return false;
  int listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) return false;
  unlink(fresh.c_str());  // a leftover of a killed call with our pid
  if (bind(listen_fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(listen_fd, SOMAXCONN) != 0 ||
      rename(fresh.c_str(), path.c_str()) != 0) {
    unlink(fresh.c_str());
    close(listen_fd);
    return false;
  }
  pid_t pid = fork();
  if (pid == 0) {
    // Detached: its own session, reparented to init (or the caller's subreaper) once the middle
    // process exits; nothing of the caller's (stdout, the log, the records' lock) stays open.
    setsid();
    if (fork() != 0) _exit(0);
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGHUP, SIG_IGN);
    struct sigaction stop {};
    stop.sa_handler = [](int) { g_keeper_stop = 1; };  // no SA_RESTART: poll() returns at once
    sigaction(SIGTERM, &stop, nullptr);
    sigaction(SIGINT, &stop, nullptr);
    if (chdir("/") != 0) _exit(1);
    close_all_fds_but({listen_fd});
    run_keeper(listen_fd, path, config);
    _exit(0);
  }
  close(listen_fd);  // the keeper has its own
  if (pid < 0) return false;
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  return true;
}

}  // namespace nftpm
