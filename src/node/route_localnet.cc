#include "nftpm/route_localnet.h"

#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/rtnetlink.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include <libmnl/libmnl.h>

#include "nftpm/owner_tag.h"
#include "node/netlink_request.h"

namespace nftpm {

namespace {

struct SocketCloser {
  void operator()(mnl_socket* s) const { mnl_socket_close(s); }
};

Error route_error(const std::string& what, int err) {
  return {ErrorCode::kIoFailure, what + ": " + std::strerror(err)};
}

// A link's answer is a few KiB (a bridge's attributes, IPv6 settings); one that does not fit fails
// (MSG_TRUNC) rather than being read short. Not zeroed: only what the kernel writes is read.
constexpr size_t kAnswerBytes = 32768;

// One request on `sock` and its answer, parsed by `cb`. The socket is not bound (the kernel binds
// it at the first send), so only the sequence number is checked.
Status ask(mnl_socket* sock, nlmsghdr* nlh, char* answer, mnl_cb_t cb, void* data, const char* what) {
  if (netlink_request(sock, nlh, answer, kAnswerBytes, 0, cb, data) < 0) {
    return route_error(std::string("asking for ") + what, errno);
  }
  return ok_status();
}

int route_oif(const nlmsghdr* m, void* data) {
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
}

// IFLA_AF_SPEC > AF_INET > IFLA_INET_CONF, an array of the device's IPv4 settings.
int inet_conf(const nlattr* a, void* data) {
  auto* dev = static_cast<RouteDevice*>(data);
  if (mnl_attr_get_type(a) == AF_INET) return mnl_attr_parse_nested(a, inet_conf, data);
  if (mnl_attr_get_type(a) == IFLA_INET_CONF) {
    size_t at = (IPV4_DEVCONF_ROUTE_LOCALNET - 1) * sizeof(uint32_t);
    if (mnl_attr_get_payload_len(a) >= at + sizeof(uint32_t)) {
      uint32_t v;
      std::memcpy(&v, static_cast<const char*>(mnl_attr_get_payload(a)) + at, sizeof v);
      dev->route_localnet = v != 0;
    }
  }
  return MNL_CB_OK;
}

int link_attrs(const nlmsghdr* m, void* data) {
  if (m->nlmsg_type != RTM_NEWLINK) return MNL_CB_OK;
  return mnl_attr_parse(
      m, sizeof(ifinfomsg),
      +[](const nlattr* a, void* d) -> int {
        auto* dev = static_cast<RouteDevice*>(d);
        if (mnl_attr_get_type(a) == IFLA_IFNAME && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0) {
          dev->name = mnl_attr_get_str(a);
        } else if (mnl_attr_get_type(a) == IFLA_AF_SPEC) {
          return mnl_attr_parse_nested(a, inet_conf, d);
        }
        return MNL_CB_OK;
      },
      data);
}

}  // namespace

Result<RouteDevice> route_device(const in_addr& dst) {
  std::unique_ptr<mnl_socket, SocketCloser> sock(mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC));
  if (!sock) return route_error("rtnetlink", errno);
  alignas(nlmsghdr) char request[256] = {};
  alignas(nlmsghdr) char answer[kAnswerBytes];
  nlmsghdr* nlh = mnl_nlmsg_put_header(request);
  nlh->nlmsg_type = RTM_GETROUTE;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  nlh->nlmsg_seq = 1;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = AF_INET;
  rtm->rtm_dst_len = 32;
  mnl_attr_put(nlh, RTA_DST, sizeof dst, &dst);
  uint32_t oif = 0;
  NFTPM_TRY(ask(sock.get(), nlh, answer, route_oif, &oif, "a route"));
  if (oif == 0) return route_error("no interface routes to the container", ENOENT);

  // The interface's name and its route_localnet, in one answer (no ioctl, no /proc read).
  std::memset(request, 0, sizeof request);
  nlh = mnl_nlmsg_put_header(request);
  nlh->nlmsg_type = RTM_GETLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  nlh->nlmsg_seq = 2;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = static_cast<int>(oif);
  mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  RouteDevice dev;
  NFTPM_TRY(ask(sock.get(), nlh, answer, link_attrs, &dev, "the interface that routes to the container"));
  if (dev.name.empty()) return route_error("no interface routes to the container", ENOENT);
  return dev;
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
