#include "node/netlink_request.h"

namespace nftpm {

int netlink_request(mnl_socket* sock, const nlmsghdr* nlh, char* answer, size_t size, uint32_t portid, mnl_cb_t cb,
                    void* data) {
  if (mnl_socket_sendto(sock, nlh, nlh->nlmsg_len) < 0) return -1;
  ssize_t n = mnl_socket_recvfrom(sock, answer, size);
  if (n < 0) return -1;
  return mnl_cb_run(answer, n, nlh->nlmsg_seq, portid, cb, data);
}

}  // namespace nftpm
