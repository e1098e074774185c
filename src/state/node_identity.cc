// Which boot and which network namespace this process runs in: a record made elsewhere is never
// restored here.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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
  // The cookie of the namespace (unique within a boot, never reused; Linux 5.14). Before that,
  // the namespace's inode number, which a namespace created after this one died may reuse:
  // marked by the top bit, so the two kinds never compare equal.
  uint64_t cookie = this_netns_cookie();
  if (cookie == 0) {
    struct stat st {};
    if (stat("/proc/self/ns/net", &st) != 0) {
      return Error(ErrorCode::kIoFailure, "cannot tell which network namespace this is",
                   std::string("no SO_NETNS_COOKIE, and /proc/self/ns/net: ") + std::strerror(errno));
    }
    cookie = (uint64_t{1} << 63) | static_cast<uint64_t>(st.st_ino);
  }
  id.netns_cookie = cookie;
  return id;
}

}  // namespace nftpm
