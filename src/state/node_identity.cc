// Which boot and which network namespace this process runs in: a record made elsewhere is never
// restored here.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "nftpm/netns.h"
#include "nftpm/record_store.h"

namespace nftpm {

Result<NodeIdentity> current_node_identity() {
  NodeIdentity id;
  // A plain read: this runs in every plugin call, where an ifstream costs more than the file.
  char buf[64];
  ssize_t n = -1;
  int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    do {
      n = read(fd, buf, sizeof buf);
    } while (n < 0 && errno == EINTR);
    close(fd);
  }
  if (n == 37 && buf[36] == '\n') id.boot_id.assign(buf, 36);
  if (id.boot_id.size() != 36) {
    return Error(ErrorCode::kIoFailure, "cannot read the boot id from /proc/sys/kernel/random/boot_id");
  }
  // Its cookie, or before 5.14 its inode number, marked (netns.h).
  uint64_t cookie = this_netns_id();
  if (cookie == 0) {
    return Error(ErrorCode::kIoFailure, "cannot tell which network namespace this is",
                 "no SO_NETNS_COOKIE, and /proc/self/ns/net cannot be read");
  }
  id.netns_cookie = cookie;
  return id;
}

}  // namespace nftpm
