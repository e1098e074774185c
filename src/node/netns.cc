#include "nftpm/netns.h"

#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace nftpm {

uint64_t this_netns_cookie() {
  static const uint64_t cookie = [] {
    int probe = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return uint64_t{0};
    uint64_t c = 0;
    socklen_t len = sizeof c;
    if (getsockopt(probe, SOL_SOCKET, SO_NETNS_COOKIE, &c, &len) != 0 || len != sizeof c) c = 0;
    close(probe);
    return c;
  }();
  return cookie;
}

}  // namespace nftpm
