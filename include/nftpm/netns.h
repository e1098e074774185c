// Which network namespace this process runs in.
#pragma once

#include <cstdint>

namespace nftpm {

// The cookie of this process's network namespace (SO_NETNS_COOKIE: unique within a boot, never
// reused; Linux 5.14 and later), or 0 where the kernel has none. Asked once per process: the
// plugin and its tools never change namespace after they start, and a call needs it twice (the
// socket keeper's address and the records' directory).
uint64_t this_netns_cookie();

}  // namespace nftpm
