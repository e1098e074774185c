#include "nftpm/conntrack.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <vector>

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "nftpm/deferred_close.h"

namespace nftpm {
namespace {

// Kernel-internal bits of CTA_FILTER_ORIG_FLAGS (net/netfilter/nf_internals.h).
constexpr uint32_t kFilterProtoNum = 1u << 3;
constexpr uint32_t kFilterProtoDstPort = 1u << 5;

struct SocketCloser {
  void operator()(mnl_socket* s) const { close_netfilter_socket(s); }  // see deferred_close.h
};
struct CtFree {
  void operator()(nf_conntrack* c) const { nfct_destroy(c); }
};
using CtPtr = std::unique_ptr<nf_conntrack, CtFree>;

Error ct_error(const std::string& what, int err) {
  return Error(ErrorCode::kNftablesFailure, what + ": " + std::strerror(err));
}

struct LocalAddrs {
  std::vector<in_addr> v4;
  std::vector<in6_addr> v6;
  bool has(int family, const void* a) const {
    if (family == AF_INET) {
      in_addr x;
      std::memcpy(&x, a, 4);
      if ((ntohl(x.s_addr) >> 24) == 127) return true;
      for (const auto& l : v4)
        if (l.s_addr == x.s_addr) return true;
      return false;
    }
    for (const auto& l : v6)
      if (std::memcmp(&l, a, 16) == 0) return true;
    return std::memcmp(a, &in6addr_loopback, 16) == 0;
  }
};

LocalAddrs local_addresses() {
  LocalAddrs out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    if (i->ifa_addr->sa_family == AF_INET) out.v4.push_back(reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr);
    if (i->ifa_addr->sa_family == AF_INET6) out.v6.push_back(reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr);
  }
  freeifaddrs(list);
  return out;
}

// A ctnetlink request header in `buf`.
nlmsghdr* put_ct_header(std::vector<char>& buf, uint8_t msg, uint16_t flags, int family, uint32_t seq) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | msg;
  nlh->nlmsg_flags = flags;
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = static_cast<uint8_t>(family);
  nfg->version = NFNETLINK_V0;
  nfg->res_id = 0;
  return nlh;
}

class KernelConntrack : public ConntrackTable {
 public:
  explicit KernelConntrack(std::unique_ptr<mnl_socket, SocketCloser> s)
      : sock_(std::move(s)), portid_(mnl_socket_get_portid(sock_.get())) {}

  Result<int> sweep(const ConntrackSweep& s) override {
    LocalAddrs local;
    if (s.mode == ConntrackSweep::Mode::kAfterAdd) local = local_addresses();
    int deleted = 0;
    for (int family : {AF_INET, AF_INET6}) {
      bool wanted = false;
      for (const auto& t : s.targets) wanted |= t.family == family;
      if (!wanted) continue;  // no address of that family: no flow of it can be ours
      std::vector<CtPtr> doomed;
      auto r = dump(family, s, [&](CtPtr ct) {
        if (matches(*ct, family, s, local)) doomed.push_back(std::move(ct));
      });
      if (!r) return r.take_error();
      for (auto& ct : doomed) {
        auto d = destroy(family, ct.get());
        if (!d) return d.take_error();
        deleted += *d;
      }
    }
    return deleted;
  }

 private:
  static bool is_target(const nf_conntrack& ct, int family, const std::vector<FlowTarget>& targets) {
    const void* src = nfct_get_attr(&ct, family == AF_INET ? ATTR_REPL_IPV4_SRC : ATTR_REPL_IPV6_SRC);
    uint16_t sport = ntohs(nfct_get_attr_u16(&ct, ATTR_REPL_PORT_SRC));
    if (!src) return false;
    for (const auto& t : targets) {
      if (t.family == family && t.port == sport && std::memcmp(&t.addr, src, family == AF_INET ? 4 : 16) == 0) {
        return true;
      }
    }
    return false;
  }

  static bool matches(const nf_conntrack& ct, int family, const ConntrackSweep& s, const LocalAddrs& local) {
    // The kernel filter may be missing (old kernel): check protocol and port here too.
    if (nfct_get_attr_u8(&ct, ATTR_ORIG_L4PROTO) != s.proto) return false;
    if (ntohs(nfct_get_attr_u16(&ct, ATTR_ORIG_PORT_DST)) != s.host_port) return false;
    bool dnat = nfct_get_attr_u32(&ct, ATTR_STATUS) & IPS_DST_NAT;
    if (s.mode == ConntrackSweep::Mode::kAfterDelete) return dnat && is_target(ct, family, s.targets);
    const void* dst = nfct_get_attr(&ct, family == AF_INET ? ATTR_ORIG_IPV4_DST : ATTR_ORIG_IPV6_DST);
    if (!dst || !local.has(family, dst)) return false;   // the node as a client of a remote port
    if (dnat) return !is_target(ct, family, s.targets);  // translated to somebody else
    return s.proto == IPPROTO_UDP;                       // an un-translated UDP flow would bypass the new mapping
  }

  using OnEntry = std::function<void(CtPtr)>;
  Status dump(int family, const ConntrackSweep& s, const OnEntry& on_entry) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    uint32_t seq = ++seq_;
    nlmsghdr* nlh = put_ct_header(buf, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, family, seq);
    if (use_filter_) {
      nlattr* tuple = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
      nlattr* proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
      mnl_attr_put_u8(nlh, CTA_PROTO_NUM, s.proto);
      mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(s.host_port));
      mnl_attr_nest_end(nlh, proto);
      mnl_attr_nest_end(nlh, tuple);
      nlattr* filter = mnl_attr_nest_start(nlh, CTA_FILTER);
      mnl_attr_put_u32(nlh, CTA_FILTER_ORIG_FLAGS, kFilterProtoNum | kFilterProtoDstPort);
      mnl_attr_put_u32(nlh, CTA_FILTER_REPLY_FLAGS, 0);
      mnl_attr_nest_end(nlh, filter);
    }
    if (mnl_socket_sendto(sock_.get(), nlh, nlh->nlmsg_len) < 0) return ct_error("asking for conntrack entries", errno);

    struct Ctx {
      const OnEntry* f;
    } ctx{&on_entry};
    auto cb = [](const nlmsghdr* n, void* data) -> int {
      CtPtr ct(nfct_new());
      if (ct && nfct_nlmsg_parse(n, ct.get()) >= 0) (*static_cast<Ctx*>(data)->f)(std::move(ct));
      return MNL_CB_OK;
    };
    std::vector<char> rx(1 << 16);
    for (;;) {
      ssize_t n = mnl_socket_recvfrom(sock_.get(), rx.data(), rx.size());
      if (n < 0) return ct_error("reading conntrack entries", errno);
      int ret = mnl_cb_run(rx.data(), n, seq, portid_, cb, &ctx);
      if (ret < 0) {
        // A kernel without CTA_FILTER (before 5.8) refuses the attribute: dump everything.
        if (use_filter_ && (errno == EINVAL || errno == EOPNOTSUPP)) {
          use_filter_ = false;
          return dump(family, s, on_entry);
        }
        if (errno == ENOENT) return ok_status();
        return ct_error("reading conntrack entries", errno);
      }
      if (ret == MNL_CB_STOP) return ok_status();
    }
  }

  Result<int> destroy(int family, nf_conntrack* ct) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    uint32_t seq = ++seq_;
    nlmsghdr* nlh = put_ct_header(buf, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, family, seq);
    // Only the original tuple identifies the entry to delete.
    CtPtr key(nfct_new());
    nfct_copy(key.get(), ct, NFCT_CP_ORIG);
    if (nfct_nlmsg_build(nlh, key.get()) < 0) return ct_error("building a conntrack delete", errno);
    if (mnl_socket_sendto(sock_.get(), nlh, nlh->nlmsg_len) < 0) return ct_error("deleting a conntrack entry", errno);
    std::vector<char> rx(MNL_SOCKET_BUFFER_SIZE);
    ssize_t n = mnl_socket_recvfrom(sock_.get(), rx.data(), rx.size());
    if (n < 0) return ct_error("deleting a conntrack entry", errno);
    if (mnl_cb_run(rx.data(), n, seq, portid_, nullptr, nullptr) < 0) {
      if (errno == ENOENT) return 0;  // it expired meanwhile
      return ct_error("deleting a conntrack entry", errno);
    }
    return 1;
  }

  std::unique_ptr<mnl_socket, SocketCloser> sock_;
  uint32_t portid_;
  uint32_t seq_ = 0;
  bool use_filter_ = true;
};

}  // namespace

Result<std::unique_ptr<ConntrackTable>> open_conntrack() {
  std::unique_ptr<mnl_socket, SocketCloser> sock(mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC));
  if (!sock) return ct_error("opening a ctnetlink socket", errno);
  if (mnl_socket_bind(sock.get(), 0, MNL_SOCKET_AUTOPID) < 0) return ct_error("binding the ctnetlink socket", errno);
  int one = 1;
  setsockopt(mnl_socket_get_fd(sock.get()), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  return std::unique_ptr<ConntrackTable>(new KernelConntrack(std::move(sock)));
}

}  // namespace nftpm
