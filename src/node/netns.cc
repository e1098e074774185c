#include "nftpm/netns.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace nftpm {

uint64_t netns_cookie(int fd) {
  uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0 || len != sizeof cookie) return 0;
  return cookie;
}

uint64_t this_netns_cookie() {
  static const uint64_t cookie = [] {
    int probe = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return uint64_t{0};
    uint64_t c = netns_cookie(probe);
    close(probe);
    return c;
  }();
  return cookie;
}

uint64_t this_netns_id() {
  if (uint64_t cookie = this_netns_cookie(); cookie != 0) return cookie;
  struct stat st {};
  if (stat("/proc/self/ns/net", &st) != 0) return 0;
  return kNetnsInodeBit | static_cast<uint64_t>(st.st_ino);
}

}  // namespace nftpm
