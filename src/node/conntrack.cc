#include "nftpm/conntrack.h"
#include "nft/nftnl_handles.h"
#include "node/netlink_request.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_conntrack_common.h>

#include "nftpm/deferred_close.h"

namespace nftpm {
namespace {

// Kernel-internal bits of CTA_FILTER_ORIG_FLAGS (net/netfilter/nf_internals.h).
constexpr uint32_t kFilterProtoNum = 1u << 3;
constexpr uint32_t kFilterProtoDstPort = 1u << 5;

// One entry of a dump: what a sweep decides on, and its original tuple as the kernel wrote it
// (the attribute, header included), which names the entry in a delete. Read with libmnl alone:
// libnetfilter_conntrack (and libnfnetlink under it) cost every call 0.15 ms of loading.
struct CtEntry {
  ConntrackFlow flow;
  std::vector<char> orig_tuple;
  std::optional<uint16_t> zone;  // CTA_ZONE, as received (network order)
};

// The attributes of a nest (or of a message's payload), by type; nullptr where absent.
template <size_t N>
struct Attrs {
  std::array<const nlattr*, N + 1> at{};
  const nlattr* operator[](int type) const { return type >= 0 && type <= static_cast<int>(N) ? at[type] : nullptr; }
};
template <size_t N>
int keep_attr(const nlattr* a, void* data) {
  int type = mnl_attr_get_type(a);
  if (type >= 0 && type <= static_cast<int>(N)) static_cast<Attrs<N>*>(data)->at[type] = a;
  return MNL_CB_OK;
}
template <size_t N>
Attrs<N> nested_attrs(const nlattr* nest) {
  Attrs<N> out;
  if (nest != nullptr) mnl_attr_parse_nested(nest, keep_attr<N>, &out);
  return out;
}

struct Tuple {
  std::optional<in6_addr> src, dst;
  uint8_t proto = 0;
  uint16_t src_port = 0, dst_port = 0;  // host order
};

std::optional<in6_addr> address_of(const nlattr* a, int family) {
  size_t want = family == AF_INET ? 4 : 16;
  if (a == nullptr || mnl_attr_get_payload_len(a) != want) return std::nullopt;
  in6_addr out{};
  std::memcpy(&out, mnl_attr_get_payload(a), want);
  return out;
}

uint16_t port_of(const nlattr* a) {
  return a != nullptr && mnl_attr_get_payload_len(a) == 2 ? ntohs(mnl_attr_get_u16(a)) : 0;
}

Tuple tuple_of(const nlattr* nest, int family) {
  Tuple t;
  auto parts = nested_attrs<CTA_TUPLE_MAX>(nest);
  auto ip = nested_attrs<CTA_IP_MAX>(parts[CTA_TUPLE_IP]);
  t.src = address_of(ip[family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC], family);
  t.dst = address_of(ip[family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST], family);
  auto l4 = nested_attrs<CTA_PROTO_MAX>(parts[CTA_TUPLE_PROTO]);
  if (l4[CTA_PROTO_NUM] != nullptr && mnl_attr_get_payload_len(l4[CTA_PROTO_NUM]) == 1) {
    t.proto = mnl_attr_get_u8(l4[CTA_PROTO_NUM]);
  }
  t.src_port = port_of(l4[CTA_PROTO_SRC_PORT]);
  t.dst_port = port_of(l4[CTA_PROTO_DST_PORT]);
  return t;
}

// An entry of a ctnetlink dump; nullopt for anything without an original tuple.
std::optional<CtEntry> entry_of(const nlmsghdr* nlh, int family) {
  Attrs<CTA_MAX> top;
  if (mnl_attr_parse(nlh, sizeof(nfgenmsg), keep_attr<CTA_MAX>, &top) < 0) return std::nullopt;
  const nlattr* orig = top[CTA_TUPLE_ORIG];
  if (orig == nullptr) return std::nullopt;
  CtEntry e;
  Tuple o = tuple_of(orig, family);
  Tuple r = tuple_of(top[CTA_TUPLE_REPLY], family);
  e.flow.family = family;
  e.flow.proto = o.proto;
  e.flow.orig_dst = o.dst;
  e.flow.orig_dst_port = o.dst_port;
  if (top[CTA_STATUS] != nullptr && mnl_attr_get_payload_len(top[CTA_STATUS]) == 4) {
    e.flow.dnat = (ntohl(mnl_attr_get_u32(top[CTA_STATUS])) & IPS_DST_NAT) != 0;
  }
  e.flow.reply_src = r.src;
  e.flow.reply_src_port = r.src_port;
  const char* raw = reinterpret_cast<const char*>(orig);
  e.orig_tuple.assign(raw, raw + orig->nla_len);
  if (top[CTA_ZONE] != nullptr && mnl_attr_get_payload_len(top[CTA_ZONE]) == 2)
    e.zone = mnl_attr_get_u16(top[CTA_ZONE]);
  return e;
}

Error ct_error(const std::string& what, int err) {
  return {ErrorCode::kNftablesFailure, what + ": " + std::strerror(err)};
}

bool targets_family(const ConntrackSweep& s, int family) {
  for (const auto& t : s.targets) {
    if (t.family == family) return true;
  }
  return false;
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

  Result<int> sweep(const ConntrackSweep& s) override { return sweep_all({s}); }

  // A dump walks every bucket of the kernel's conntrack hash, which all namespaces share (262,144
  // buckets on a 24 GiB node: 5-15 ms a walk, empty or not). So: no walk at all when this
  // namespace tracks no flow (the kernel's count, one message), and one walk per protocol for
  // both address families (a dump of AF_UNSPEC), filtered by port in the kernel when one port is
  // wanted.
  Result<int> sweep_all(const std::vector<ConntrackSweep>& sweeps) override {
    if (sweeps.empty()) return 0;
    auto tracked = tracked_flows();
    if (tracked && *tracked == 0) return 0;  // (an unreadable count: walk as if there were flows)
    LocalAddresses local;
    bool after_add = false;
    for (const auto& s : sweeps) after_add |= s.mode == ConntrackSweep::Mode::kAfterAdd;
    if (after_add) local = LocalAddresses::of_this_node();
    // proto -> port -> the sweeps of that protocol and port
    std::map<uint8_t, std::unordered_multimap<uint16_t, const ConntrackSweep*>> by_proto;
    for (const auto& s : sweeps) by_proto[s.proto].emplace(s.host_port, &s);
    int deleted = 0;
    for (const auto& entry : by_proto) {
      const auto& by_port = entry.second;  // (not a structured binding: clang 14 cannot capture those)
      bool one_port = by_port.count(by_port.begin()->first) == by_port.size();
      ConntrackSweep filter{entry.first, by_port.begin()->first, ConntrackSweep::Mode::kAfterDelete, {}};
      std::vector<CtEntry> doomed;
      auto r = dump(
          filter,
          [&](CtEntry ct) {
            auto range = by_port.equal_range(ct.flow.orig_dst_port);
            for (auto it = range.first; it != range.second; ++it) {
              // A family the container has no address of has no flow of ours.
              if (!targets_family(*it->second, ct.flow.family)) continue;
              if (sweep_deletes(*it->second, ct.flow, local)) {
                doomed.push_back(std::move(ct));
                return;
              }
            }
          },
          one_port);
      if (!r) return r.take_error();
      auto d = destroy_all(doomed);
      if (!d) return d.take_error();
      deleted += *d;
    }
    return deleted;
  }

 private:
  using OnEntry = std::function<void(CtEntry)>;
  // Both families at once (AF_UNSPEC): each entry's own family is in its message's header.
  Status dump(const ConntrackSweep& s, const OnEntry& on_entry, bool by_port = true) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    uint32_t seq = ++seq_;
    nlmsghdr* nlh = put_ct_header(buf, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, AF_UNSPEC, seq);
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

    auto cb = [](const nlmsghdr* n, void* data) -> int {
      const auto* f = static_cast<const OnEntry*>(data);
      int fam = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(n))->nfgen_family;
      if (fam != AF_INET && fam != AF_INET6) return MNL_CB_OK;
      if (auto e = entry_of(n, fam)) (*f)(std::move(*e));
      return MNL_CB_OK;
    };
    auto rx = receive_buffer();
    for (;;) {
      ssize_t n = mnl_socket_recvfrom(sock_.get(), rx.get(), kReceiveBytes);
      if (n < 0) return ct_error("reading conntrack entries", errno);
      int ret = mnl_cb_run(rx.get(), n, seq, portid_, cb, const_cast<OnEntry*>(&on_entry));
      if (ret < 0) {
        // A kernel without CTA_FILTER (before 5.8) refuses the attribute: dump everything.
        if (use_filter_ && (errno == EINVAL || errno == EOPNOTSUPP)) {
          use_filter_ = false;
          return dump(s, on_entry, by_port);
        }
        if (errno == ENOENT) return ok_status();
        return ct_error("reading conntrack entries", errno);
      }
      if (ret == MNL_CB_STOP) return ok_status();
    }
  }

  // One request and its one answer (netlink_request.h).
  int exchange(const nlmsghdr* nlh, mnl_cb_t cb, void* data) {
    std::vector<char> rx(MNL_SOCKET_BUFFER_SIZE);
    return netlink_request(sock_.get(), nlh, rx.data(), rx.size(), portid_, cb, data);
  }

  // How many flows this namespace tracks (CTA_STATS_GLOBAL_ENTRIES: the namespace's count).
  Result<uint32_t> tracked_flows() {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    uint32_t seq = ++seq_;
    nlmsghdr* nlh = put_ct_header(buf, IPCTNL_MSG_CT_GET_STATS, NLM_F_REQUEST, AF_UNSPEC, seq);
    std::optional<uint32_t> count;
    auto cb = [](const nlmsghdr* m, void* data) -> int {
      Attrs<CTA_STATS_GLOBAL_MAX> top;
      if (mnl_attr_parse(m, sizeof(nfgenmsg), keep_attr<CTA_STATS_GLOBAL_MAX>, &top) < 0) return MNL_CB_ERROR;
      const nlattr* a = top[CTA_STATS_GLOBAL_ENTRIES];
      if (a != nullptr && mnl_attr_get_payload_len(a) == 4) {
        *static_cast<std::optional<uint32_t>*>(data) = ntohl(mnl_attr_get_u32(a));
      }
      return MNL_CB_OK;
    };
    if (exchange(nlh, cb, &count) < 0) return ct_error("reading conntrack's count", errno);
    if (!count) return ct_error("reading conntrack's count", ENODATA);
    return *count;
  }

  // Deletes each entry; returns how many were still there.
  Result<int> destroy_all(const std::vector<CtEntry>& doomed) {
    int deleted = 0;
    for (const auto& ct : doomed) {
      auto d = destroy(ct);
      if (!d) return d.take_error();
      deleted += *d;
    }
    return deleted;
  }

  Result<int> destroy(const CtEntry& ct) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    uint32_t seq = ++seq_;
    nlmsghdr* nlh = put_ct_header(buf, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, ct.flow.family, seq);
    // The original tuple (and zone) identify the entry: sent back as the dump gave them.
    size_t room = buf.size() - nlh->nlmsg_len;
    if (ct.orig_tuple.size() + 64 > room) return ct_error("building a conntrack delete", EMSGSIZE);
    std::memcpy(mnl_nlmsg_get_payload_tail(nlh), ct.orig_tuple.data(), ct.orig_tuple.size());
    nlh->nlmsg_len += MNL_ALIGN(static_cast<uint32_t>(ct.orig_tuple.size()));
    if (ct.zone) mnl_attr_put(nlh, CTA_ZONE, sizeof *ct.zone, &*ct.zone);
    if (exchange(nlh, nullptr, nullptr) < 0) {
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
