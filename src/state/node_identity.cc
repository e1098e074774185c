// Which boot and which network namespace this process runs in: a record made elsewhere is never
// restored here.
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "nftpm/record_store.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace nftpm {

Result<NodeIdentity> current_node_identity() {
  NodeIdentity id;
  std::ifstream f("/proc/sys/kernel/random/boot_id");
  std::getline(f, id.boot_id);
  if (id.boot_id.size() != 36) {
    return Error(ErrorCode::kIoFailure, "cannot read the boot id from /proc/sys/kernel/random/boot_id");
  }
  // The cookie of the namespace a socket lives in: unique within a boot, never reused (Linux
  // 5.14). Before that, the namespace's inode number, which a namespace created after this one
  // died may reuse: marked by the top bit, so the two kinds never compare equal.
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error(ErrorCode::kIoFailure, std::string("cannot open a socket: ") + std::strerror(errno));
  uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  int rc = getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len);
  int err = errno;
  close(fd);
  if (rc != 0 || len != sizeof cookie) {
    struct stat st {};
    if (stat("/proc/self/ns/net", &st) != 0) {
      return Error(
          ErrorCode::kIoFailure, "cannot tell which network namespace this is",
          std::string("SO_NETNS_COOKIE: ") + std::strerror(err) + "; /proc/self/ns/net: " + std::strerror(errno));
    }
    cookie = (uint64_t{1} << 63) | static_cast<uint64_t>(st.st_ino);
  }
  id.netns_cookie = cookie;
  return id;
}

}  // namespace nftpm
