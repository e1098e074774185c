#include "nftnl_handles.h"

#include <linux/netlink.h>
#include <sys/socket.h>

#include <unistd.h>

#include <cerrno>

#include "nftpm/socket_keeper.h"

namespace nftpm {

Result<SocketPtr> open_netfilter_socket(const NetfilterSocketOptions& options, const SocketErrorFn& error) {
  // A call's socket comes from this namespace's keeper when one runs (include/nftpm/socket_keeper.h):
  // it is never released by the call. A listener's (a notification group) is its own.
  SocketPtr sock;
  if (options.group == 0) {
    int kept = keeper_borrow_socket();
    if (kept >= 0) {
      sock.reset(mnl_socket_fdopen(kept));
      if (!sock) {
        keeper_forget(kept);
        close(kept);
      }
    }
  }
  if (!sock) {
    sock.reset(mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC));
    if (!sock) return error("opening a netfilter netlink socket", errno);
    if (mnl_socket_bind(sock.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
      return error("binding the netfilter netlink socket", errno);
    }
    if (options.group == 0) keeper_lend_socket(mnl_socket_get_fd(sock.get()));
  }
  int fd = mnl_socket_get_fd(sock.get());
  // Set either way: a borrowed socket keeps what its last borrower set.
  int cap_ack = options.cap_ack ? 1 : 0, ext_ack = options.ext_ack ? 1 : 0;
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &cap_ack, sizeof cap_ack);
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &ext_ack, sizeof ext_ack);
  if (options.group != 0) {
    unsigned group = options.group;
    if (mnl_socket_setsockopt(sock.get(), NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) {
      return error("joining the netfilter notification group " + std::to_string(group), errno);
    }
  }
  if (options.receive_buffer > 0) {
    // SO_RCVBUFFORCE passes net.core.rmem_max but needs CAP_NET_ADMIN in the initial user
    // namespace; without it SO_RCVBUF gets what rmem_max allows.
    int size = options.receive_buffer;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0) {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
  }
  return sock;
}

}  // namespace nftpm
