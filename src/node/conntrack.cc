#include "nftpm/conntrack.h"
#include "nft/nftnl_handles.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <unordered_map>
#include <vector>

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "nftpm/deferred_close.h"

namespace nftpm {
namespace {

// Kernel-internal bits of CTA_FILTER_ORIG_FLAGS (net/netfilter/nf_internals.h).
constexpr uint32_t kFilterProtoNum = 1u << 3;
constexpr uint32_t kFilterProtoDstPort = 1u << 5;

struct CtFree {
  void operator()(nf_conntrack* c) const { nfct_destroy(c); }
};
using CtPtr = std::unique_ptr<nf_conntrack, CtFree>;

Error ct_error(const std::string& what, int err) {
  return {ErrorCode::kNftablesFailure, what + ": " + std::strerror(err)};
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
  explicit KernelConntrack(SocketPtr s) : sock_(std::move(s)), portid_(mnl_socket_get_portid(sock_.get())) {}

  Result<int> sweep_all(const std::vector<ConntrackSweep>& sweeps) override {
    if (sweeps.size() == 1) return sweep(sweeps[0]);
    LocalAddresses local;
    bool after_add = false;
    for (const auto& s : sweeps) after_add |= s.mode == ConntrackSweep::Mode::kAfterAdd;
    if (after_add) local = LocalAddresses::of_this_node();
    int deleted = 0;
    for (int family : {AF_INET, AF_INET6}) {
      // proto -> port -> the sweeps of that protocol and port wanting this family
      std::map<uint8_t, std::unordered_multimap<uint16_t, const ConntrackSweep*>> by_proto;
      for (const auto& s : sweeps) {
        for (const auto& t : s.targets) {
          if (t.family == family) {
            by_proto[s.proto].emplace(s.host_port, &s);
            break;
          }
        }
      }
      for (const auto& [proto, by_port] : by_proto) {
        ConntrackSweep filter{proto, 0, ConntrackSweep::Mode::kAfterDelete, {}};
        std::vector<CtPtr> doomed;
        auto r = dump(
            family, filter,
            [&](CtPtr ct) {
              ConntrackFlow f = flow_of(*ct, family);
              auto range = by_port.equal_range(f.orig_dst_port);
              for (auto it = range.first; it != range.second; ++it) {
                if (sweep_deletes(*it->second, f, local)) {
                  doomed.push_back(std::move(ct));
                  return;
                }
              }
            },
            /*by_port=*/false);
        if (!r) return r.take_error();
        for (auto& ct : doomed) {
          auto d = destroy(family, ct.get());
          if (!d) return d.take_error();
          deleted += *d;
        }
      }
    }
    return deleted;
  }

  Result<int> sweep(const ConntrackSweep& s) override {
    LocalAddresses local;
    if (s.mode == ConntrackSweep::Mode::kAfterAdd) local = LocalAddresses::of_this_node();
    int deleted = 0;
    for (int family : {AF_INET, AF_INET6}) {
      bool wanted = false;
      for (const auto& t : s.targets) wanted |= t.family == family;
      if (!wanted) continue;  // no address of that family: no flow of it can be ours
      std::vector<CtPtr> doomed;
      auto r = dump(family, s, [&](CtPtr ct) {
        if (sweep_deletes(s, flow_of(*ct, family), local)) doomed.push_back(std::move(ct));
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
  static std::optional<in6_addr> addr_attr(const nf_conntrack& ct, int family, nf_conntrack_attr v4,
                                           nf_conntrack_attr v6) {
    const void* p = nfct_get_attr(&ct, family == AF_INET ? v4 : v6);
    if (!p) return std::nullopt;
    in6_addr a{};
    std::memcpy(&a, p, family == AF_INET ? 4 : 16);
    return a;
  }

  static ConntrackFlow flow_of(const nf_conntrack& ct, int family) {
    ConntrackFlow f;
    f.family = family;
    f.proto = nfct_get_attr_u8(&ct, ATTR_ORIG_L4PROTO);
    f.orig_dst = addr_attr(ct, family, ATTR_ORIG_IPV4_DST, ATTR_ORIG_IPV6_DST);
    f.orig_dst_port = ntohs(nfct_get_attr_u16(&ct, ATTR_ORIG_PORT_DST));
    f.dnat = nfct_get_attr_u32(&ct, ATTR_STATUS) & IPS_DST_NAT;
    f.reply_src = addr_attr(ct, family, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC);
    f.reply_src_port = ntohs(nfct_get_attr_u16(&ct, ATTR_REPL_PORT_SRC));
    return f;
  }

  using OnEntry = std::function<void(CtPtr)>;
  Status dump(int family, const ConntrackSweep& s, const OnEntry& on_entry, bool by_port = true) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    uint32_t seq = ++seq_;
    nlmsghdr* nlh = put_ct_header(buf, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, family, seq);
    if (use_filter_) {
      nlattr* tuple = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
      nlattr* proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
      mnl_attr_put_u8(nlh, CTA_PROTO_NUM, s.proto);
      if (by_port) mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(s.host_port));
      mnl_attr_nest_end(nlh, proto);
      mnl_attr_nest_end(nlh, tuple);
      nlattr* filter = mnl_attr_nest_start(nlh, CTA_FILTER);
      mnl_attr_put_u32(nlh, CTA_FILTER_ORIG_FLAGS, kFilterProtoNum | (by_port ? kFilterProtoDstPort : 0));
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
          return dump(family, s, on_entry, by_port);
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

  SocketPtr sock_;
  uint32_t portid_;
  uint32_t seq_ = 0;
  bool use_filter_ = true;
};

}  // namespace

bool LocalAddresses::has(int family, const in6_addr& a) const {
  if (family == AF_INET) {
    in_addr x;
    std::memcpy(&x, &a, 4);
    if ((ntohl(x.s_addr) >> 24) == 127) return true;
    for (const auto& l : v4)
      if (l.s_addr == x.s_addr) return true;
    return false;
  }
  for (const auto& l : v6)
    if (std::memcmp(&l, &a, 16) == 0) return true;
  return std::memcmp(&a, &in6addr_loopback, 16) == 0;
}

LocalAddresses LocalAddresses::of_this_node() {
  LocalAddresses out;
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

namespace {

// Translated to one of `targets`: the reply comes from that address and port.
bool translated_to_target(const ConntrackFlow& f, const std::vector<FlowTarget>& targets) {
  if (!f.reply_src) return false;
  for (const auto& t : targets) {
    if (t.family == f.family && t.port == f.reply_src_port &&
        std::memcmp(&t.addr, &*f.reply_src, f.family == AF_INET ? 4 : 16) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool sweep_deletes(const ConntrackSweep& s, const ConntrackFlow& f, const LocalAddresses& local) {
  // The kernel filter may be missing (old kernel): check protocol and port here too.
  if (f.proto != s.proto || f.orig_dst_port != s.host_port) return false;
  if (s.mode == ConntrackSweep::Mode::kAfterDelete) return f.dnat && translated_to_target(f, s.targets);
  if (!f.orig_dst || !local.has(f.family, *f.orig_dst)) return false;  // the node as a client of a remote port
  if (f.dnat) return !translated_to_target(f, s.targets);              // translated to somebody else
  return s.proto == IPPROTO_UDP;  // an un-translated UDP flow would bypass the new mapping
}

Result<std::unique_ptr<ConntrackTable>> open_conntrack() {
  auto sock = open_netfilter_socket({}, [](const std::string& what, int err) { return ct_error(what, err); });
  if (!sock) return sock.take_error();
  return std::unique_ptr<ConntrackTable>(new KernelConntrack(std::move(*sock)));
}

}  // namespace nftpm
