// One netlink request and its answer, for the node's sockets that ask the kernel one thing at a
// time (conntrack's count and deletes, the localhost path's route and link).
#pragma once

#include <cstddef>
#include <cstdint>

#include <libmnl/libmnl.h>

namespace nftpm {

// Sends `nlh` on `sock` and runs `cb` (with `data`) over the answer, read into `answer` (`size`
// bytes). Returns what mnl_cb_run returns, or -1; below 0, errno says why: the send, the receive
// (ENOSPC: the answer did not fit), or the kernel's error answer. `portid` 0 (a socket the kernel
// bound at its first send) checks only the sequence number.
int netlink_request(mnl_socket* sock, const nlmsghdr* nlh, char* answer, size_t size, uint32_t portid, mnl_cb_t cb,
                    void* data);

}  // namespace nftpm
