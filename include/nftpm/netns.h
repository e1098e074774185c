// Which network namespace this process, or a socket, is in.
#pragma once

#include <cstdint>

namespace nftpm {

// The cookie of the network namespace socket `fd` lives in (SO_NETNS_COOKIE: unique within a
// boot, never reused; Linux 5.14 and later), or 0 where the kernel has none.
uint64_t netns_cookie(int fd);
// This process's namespace's cookie, or 0. Asked once per process: the plugin and its tools never
// change namespace after they start, and a call needs it twice (the socket keeper's address and
// the records' directory).
uint64_t this_netns_cookie();
// What names this namespace in paths and records: its cookie; before 5.14 its inode number with
// the top bit set (kNetnsInodeBit), since a namespace made after this one died may reuse the
// inode, and the two kinds must never compare equal; 0 when neither can be read.
inline constexpr uint64_t kNetnsInodeBit = uint64_t{1} << 63;
uint64_t this_netns_id();

}  // namespace nftpm
