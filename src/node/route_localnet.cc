#include "nftpm/route_localnet.h"

#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include <libmnl/libmnl.h>

#include "nftpm/owner_tag.h"

namespace nftpm {

namespace {

struct SocketCloser {
  void operator()(mnl_socket* s) const { mnl_socket_close(s); }
};

Error route_error(const std::string& what, int err) {
  return {ErrorCode::kIoFailure, what + ": " + std::strerror(err)};
}

}  // namespace

Result<std::string> route_interface(const in_addr& dst) {
  std::unique_ptr<mnl_socket, SocketCloser> sock(mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC));
  if (!sock || mnl_socket_bind(sock.get(), 0, MNL_SOCKET_AUTOPID) < 0) return route_error("rtnetlink", errno);
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_GETROUTE;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  nlh->nlmsg_seq = 1;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = AF_INET;
  rtm->rtm_dst_len = 32;
  mnl_attr_put(nlh, RTA_DST, sizeof dst, &dst);
  if (mnl_socket_sendto(sock.get(), nlh, nlh->nlmsg_len) < 0) return route_error("asking for a route", errno);
  ssize_t n = mnl_socket_recvfrom(sock.get(), buf.data(), buf.size());
  if (n < 0) return route_error("reading a route", errno);
  uint32_t oif = 0;
  auto msg_cb = [](const nlmsghdr* m, void* data) -> int {
    if (m->nlmsg_type != RTM_NEWROUTE) return MNL_CB_OK;
    return mnl_attr_parse(
        m, sizeof(rtmsg),
        +[](const nlattr* a, void* d) -> int {
          if (mnl_attr_get_type(a) == RTA_OIF && mnl_attr_validate(a, MNL_TYPE_U32) >= 0) {
            *static_cast<uint32_t*>(d) = mnl_attr_get_u32(a);
          }
          return MNL_CB_OK;
        },
        data);
  };
  if (mnl_cb_run(buf.data(), n, 1, mnl_socket_get_portid(sock.get()), msg_cb, &oif) < 0) {
    return route_error("reading a route", errno);
  }
  char name[IF_NAMESIZE];
  if (oif == 0 || !if_indextoname(oif, name)) return route_error("no interface routes to the container", ENOENT);
  return std::string(name);
}

Status enable_route_localnet(const std::string& ifname, const std::string& proc_sys) {
  if (!valid_ifname(ifname)) {
    return Error(ErrorCode::kIoFailure, "cannot set route_localnet: '" + ifname + "' is not an interface name");
  }
  std::string path = proc_sys + "/net/ipv4/conf/" + ifname + "/route_localnet";
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return route_error("opening " + path, errno);
  char cur = '0';
  if (read(fd, &cur, 1) == 1 && cur == '1') {
    close(fd);
    return ok_status();
  }
  bool ok = pwrite(fd, "1", 1, 0) == 1;
  int err = errno;
  close(fd);
  if (!ok) return route_error("writing " + path, err);
  return ok_status();
}

}  // namespace nftpm
