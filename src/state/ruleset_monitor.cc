// The watcher's view of nf_tables: a NETLINK_NETFILTER socket joined to NFNLGRP_NFTABLES, the
// group `nft monitor` reads, and the decoding of the removals it announces.
//
// Design notes:
// - libnftnl checks attributes with abort-style validators: an attribute of a known type with a
//   bad length makes it print "nf_tables kernel ABI is broken" and call exit(). Its set-element
//   parser also bounds the attribute type by NFTA_SET_MAX while its table has NFTA_SET_ELEM_MAX+1
//   slots, so an unknown element attribute writes past a stack array. A message is therefore never
//   handed to libnftnl as received: filter() copies only the attributes read here (names, element
//   flags and userdata), each checked first, and libnftnl decodes that copy. The filter also drops
//   rule expressions, which libnftnl fails on when the kernel is newer and knows more of them.
// - Element comments are nftnl_udata TLVs; nftnl_udata_parse() trusts each entry's length, so the
//   chain of entries is checked against the buffer before it is called.
// - NETLINK_NO_ENOBUFS stays off: when the receive buffer overflows the kernel drops messages and
//   the next recv() fails with ENOBUFS once, which becomes a kOverrun event.
#include "nftpm/ruleset_monitor.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <optional>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "../nft/nftnl_handles.h"
#include "nftpm/deferred_close.h"

namespace nftpm {
namespace {

// NFT_MSG_DESTROY* (Linux 6.3: `nft destroy`, a delete that ignores ENOENT). Linux 6.18 announces
// a destroy's commit as DEL* (seen: DESTROYTABLE gives DELRULE, DELSET, DELCHAIN, DELTABLE), but
// the kernel code that added them passed the request's type through, so both are taken. They are
// enumerators, which #ifdef cannot see, and the build's headers (Linux 6.1 here) predate them, so
// their ABI values are written out.
constexpr uint8_t kMsgDestroyTable = 26, kMsgDestroyChain = 27, kMsgDestroyRule = 28, kMsgDestroySet = 29,
                  kMsgDestroySetElem = 30;

// Large enough for a flush of a large ruleset (the kernel doubles it for its bookkeeping).
constexpr int kReceiveBuffer = 8 << 20;
// The kernel batches notifications into datagrams of at most NLMSG_GOODSIZE (8 KiB); one larger
// than this buffer is reported as an overrun, and the buffer grows.
constexpr size_t kDatagramBuffer = 64 << 10;

using Kind = RulesetEvent::Kind;

RulesetEvent event_of(Kind kind) {
  RulesetEvent ev{};
  ev.kind = kind;
  return ev;
}

std::optional<Kind> removal_kind(uint8_t msg_type) {
  switch (msg_type) {
    case NFT_MSG_DELTABLE:
    case kMsgDestroyTable: return Kind::kTableRemoved;
    case NFT_MSG_DELCHAIN:
    case kMsgDestroyChain: return Kind::kChainRemoved;
    case NFT_MSG_DELSET:
    case kMsgDestroySet: return Kind::kSetRemoved;
    case NFT_MSG_DELRULE:
    case kMsgDestroyRule: return Kind::kRuleRemoved;
    case NFT_MSG_DELSETELEM:
    case kMsgDestroySetElem: return Kind::kElementsRemoved;
    default: return std::nullopt;
  }
}

// --- filtering -----------------------------------------------------------------------------------

// Calls f(attr) for every attribute that lies wholly inside [data, data + len).
template <typename F>
void for_each_attr(const void* data, size_t len, F&& f) {
  const char* p = static_cast<const char*>(data);
  size_t left = len;
  while (left >= sizeof(nlattr)) {
    const auto* a = reinterpret_cast<const nlattr*>(p);
    if (a->nla_len < sizeof(nlattr) || a->nla_len > left) return;
    f(a);
    size_t step = MNL_ALIGN(a->nla_len);
    if (step >= left) return;
    p += step;
    left -= step;
  }
}

// A string libnftnl can strdup(): non-empty and NUL-terminated within the attribute.
bool is_nul_string(const nlattr* a) {
  uint16_t len = mnl_attr_get_payload_len(a);
  return len > 0 && std::memchr(mnl_attr_get_payload(a), '\0', len) != nullptr;
}

// Appends a copy of `a` (its type without the flag bits) to `out`; false when `out` is full.
bool copy_attr(nlmsghdr* out, size_t cap, const nlattr* a) {
  return mnl_attr_put_check(out, cap, mnl_attr_get_type(a), mnl_attr_get_payload_len(a), mnl_attr_get_payload(a));
}

// Copies NFTA_SET_ELEM_LIST_ELEMENTS: each element with only its flags and userdata. The kernel
// takes every nested attribute as an element whatever its type (libnftnl numbers them 1, 2, ...;
// the kernel's own messages use NFTA_LIST_ELEM); libnftnl's parser wants NFTA_LIST_ELEM.
bool copy_elements(nlmsghdr* out, size_t cap, const nlattr* list) {
  nlattr* nest = mnl_attr_nest_start_check(out, cap, NFTA_SET_ELEM_LIST_ELEMENTS);
  if (nest == nullptr) return false;
  bool ok = true;
  for_each_attr(mnl_attr_get_payload(list), mnl_attr_get_payload_len(list), [&](const nlattr* elem) {
    if (!ok) return;
    nlattr* e = mnl_attr_nest_start_check(out, cap, NFTA_LIST_ELEM);
    if (e == nullptr) {
      ok = false;
      return;
    }
    for_each_attr(mnl_attr_get_payload(elem), mnl_attr_get_payload_len(elem), [&](const nlattr* a) {
      uint16_t type = mnl_attr_get_type(a);
      uint16_t len = mnl_attr_get_payload_len(a);
      bool keep =
          (type == NFTA_SET_ELEM_FLAGS && len == sizeof(uint32_t)) || (type == NFTA_SET_ELEM_USERDATA && len > 0);
      if (ok && keep) ok = copy_attr(out, cap, a);
    });
    mnl_attr_nest_end(out, e);
  });
  mnl_attr_nest_end(out, nest);
  return ok;
}

// The message reduced to what is read here, every attribute checked as libnftnl will check it;
// nullopt if nothing usable is left.
std::optional<std::vector<char>> filter(const nlmsghdr* nlh, Kind kind) {
  constexpr size_t kHeader = NLMSG_HDRLEN + MNL_ALIGN(sizeof(nfgenmsg));
  // The copy is never larger than the original, plus alignment slack per attribute.
  const size_t cap = kHeader + nlh->nlmsg_len + 256;
  std::vector<char> buf(cap);
  nlmsghdr* out = mnl_nlmsg_put_header(buf.data());
  out->nlmsg_type = nlh->nlmsg_type;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(out, sizeof(nfgenmsg)));
  std::memcpy(nfg, mnl_nlmsg_get_payload(nlh), sizeof(nfgenmsg));

  // Attribute numbers of the names, per kind (NFTA_TABLE_NAME, NFTA_CHAIN_TABLE, ...: the table is
  // 1 in each; the set's own name is 2 in both set messages).
  static_assert(NFTA_TABLE_NAME == 1 && NFTA_CHAIN_TABLE == 1 && NFTA_RULE_TABLE == 1 && NFTA_SET_TABLE == 1 &&
                NFTA_SET_ELEM_LIST_TABLE == 1 && NFTA_SET_NAME == 2 && NFTA_SET_ELEM_LIST_SET == 2);
  const bool has_set = kind == Kind::kSetRemoved || kind == Kind::kElementsRemoved;
  bool ok = true, table = false;
  for_each_attr(reinterpret_cast<const char*>(nlh) + kHeader, nlh->nlmsg_len - kHeader, [&](const nlattr* a) {
    uint16_t type = mnl_attr_get_type(a);
    if (!ok) return;
    if (type == 1 && is_nul_string(a)) {
      table = true;
      ok = copy_attr(out, cap, a);
    } else if (type == 2 && has_set && is_nul_string(a)) {
      ok = copy_attr(out, cap, a);
    } else if (type == NFTA_SET_ELEM_LIST_ELEMENTS && kind == Kind::kElementsRemoved) {
      ok = copy_elements(out, cap, a);
    }
  });
  if (!ok || !table) return std::nullopt;
  buf.resize(out->nlmsg_len);
  return buf;
}

// --- decoding ------------------------------------------------------------------------------------

// True if `data` is a well-formed chain of nftnl_udata entries (type, length, value).
bool udata_well_formed(const uint8_t* data, uint32_t len) {
  uint32_t at = 0;
  while (at < len) {
    if (len - at < 2) return false;
    at += 2 + data[at + 1];
  }
  return at == len;
}

int comment_cb(const nftnl_udata* attr, void* data) {
  if (nftnl_udata_type(attr) == NFTNL_UDATA_SET_ELEM_COMMENT) {
    const char* v = static_cast<const char*>(nftnl_udata_get(attr));
    uint8_t len = nftnl_udata_len(attr);
    if (len > 0 && v[len - 1] == '\0') *static_cast<std::string*>(data) = v;
  }
  return MNL_CB_OK;
}

std::string element_comment(nftnl_set_elem* e) {
  std::string comment;
  uint32_t len = 0;
  const void* u = nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &len);
  if (u != nullptr && len > 0 && udata_well_formed(static_cast<const uint8_t*>(u), len)) {
    nftnl_udata_parse(u, len, comment_cb, &comment);
  }
  return comment;
}

int collect_comment(nftnl_set_elem* e, void* data) {
  // An interval's end is the second half of one element, not an element of its own.
  if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) &&
      (nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) & NFT_SET_ELEM_INTERVAL_END)) {
    return 0;
  }
  static_cast<std::vector<std::string>*>(data)->push_back(element_comment(e));
  return 0;
}

std::string str_or_empty(const char* s) {
  return s ? s : "";
}

// Fills the event's names from the filtered message; false if libnftnl refuses it.
bool decode(const nlmsghdr* nlh, RulesetEvent& ev) {
  switch (ev.kind) {
    case Kind::kTableRemoved: {
      TablePtr t(nftnl_table_alloc());
      if (!t || nftnl_table_nlmsg_parse(nlh, t.get()) < 0) return false;
      ev.table = str_or_empty(nftnl_table_get_str(t.get(), NFTNL_TABLE_NAME));
      return true;
    }
    case Kind::kChainRemoved: {
      ChainPtr c(nftnl_chain_alloc());
      if (!c || nftnl_chain_nlmsg_parse(nlh, c.get()) < 0) return false;
      ev.table = str_or_empty(nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TABLE));
      return true;
    }
    case Kind::kRuleRemoved: {
      RulePtr r(nftnl_rule_alloc());
      if (!r || nftnl_rule_nlmsg_parse(nlh, r.get()) < 0) return false;
      ev.table = str_or_empty(nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE));
      return true;
    }
    case Kind::kSetRemoved: {
      SetPtr s(nftnl_set_alloc());
      if (!s || nftnl_set_nlmsg_parse(nlh, s.get()) < 0) return false;
      ev.table = str_or_empty(nftnl_set_get_str(s.get(), NFTNL_SET_TABLE));
      ev.set = str_or_empty(nftnl_set_get_str(s.get(), NFTNL_SET_NAME));
      return true;
    }
    case Kind::kElementsRemoved: {
      SetPtr s(nftnl_set_alloc());
      if (!s || nftnl_set_elems_nlmsg_parse(nlh, s.get()) < 0) return false;
      ev.table = str_or_empty(nftnl_set_get_str(s.get(), NFTNL_SET_TABLE));
      ev.set = str_or_empty(nftnl_set_get_str(s.get(), NFTNL_SET_NAME));
      nftnl_set_elem_foreach(s.get(), collect_comment, &ev.comments);
      return true;
    }
    case Kind::kOverrun: return false;
  }
  return false;
}

// --- the socket ----------------------------------------------------------------------------------

Error monitor_error(const std::string& what, int err) {
  std::string details;
  if (err == EPERM || err == EACCES) {
    details = "watching nftables needs CAP_NET_ADMIN in the network namespace (to join the nf_tables netlink group)";
  } else if (err == EPROTONOSUPPORT || err == EAFNOSUPPORT) {
    details = "the kernel has no netfilter netlink (nfnetlink) support";
  }
  return Error(ErrorCode::kNftablesFailure, what + ": " + std::strerror(err), details);
}

class NetlinkRulesetMonitor : public RulesetMonitor {
 public:
  explicit NetlinkRulesetMonitor(SocketPtr sock)
      : sock_(std::move(sock)), fd_(mnl_socket_get_fd(sock_.get())), buf_(kDatagramBuffer) {}

  Result<std::vector<RulesetEvent>> wait(int timeout_ms) override {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::milliseconds(std::max(timeout_ms, 0));
    std::vector<RulesetEvent> events;
    for (;;) {
      int wait_ms = -1;
      if (timeout_ms >= 0) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
        wait_ms = static_cast<int>(std::clamp<decltype(left)>(left, 0, INT_MAX));
      }
      pollfd p{fd_, POLLIN, 0};
      int n = poll(&p, 1, wait_ms);
      if (n < 0 && errno != EINTR) return monitor_error("waiting for nftables notifications", errno);
      if (n > 0) {
        if (p.revents & POLLNVAL) return monitor_error("waiting for nftables notifications", EBADF);
        if (int err = drain(events); err != 0) return monitor_error("reading nftables notifications", err);
        if (!events.empty()) return events;  // otherwise only messages that remove nothing came
      }
      if (timeout_ms >= 0 && Clock::now() >= deadline) return events;
    }
  }

 private:
  // Reads every datagram queued, without blocking; returns 0 or an errno.
  int drain(std::vector<RulesetEvent>& events) {
    for (;;) {
      sockaddr_nl from{};
      iovec iov{buf_.data(), buf_.size()};
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof from;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      // MSG_TRUNC: the datagram's full length even when it did not fit.
      ssize_t n = recvmsg(fd_, &msg, MSG_DONTWAIT | MSG_TRUNC);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        if (errno == ENOBUFS) {  // the kernel dropped notifications; what is still queued follows
          events.push_back(event_of(Kind::kOverrun));
          continue;
        }
        return errno;
      }
      if (from.nl_pid != 0) continue;  // only the kernel speaks here
      auto len = static_cast<size_t>(n);
      if (len > buf_.size()) {  // cut short: its tail is lost
        events.push_back(event_of(Kind::kOverrun));
        len = buf_.size();
        buf_.resize(static_cast<size_t>(n));
      }
      int left = static_cast<int>(len);
      for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf_.data()); mnl_nlmsg_ok(nlh, left);
           nlh = mnl_nlmsg_next(nlh, &left)) {
        for (auto& ev : parse_ruleset_notification(nlh)) events.push_back(std::move(ev));
      }
    }
  }

  SocketPtr sock_;
  int fd_;
  std::vector<char> buf_;
};

}  // namespace

std::vector<RulesetEvent> parse_ruleset_notification(const nlmsghdr* nlh) {
  if (nlh == nullptr || nlh->nlmsg_len < NLMSG_HDRLEN + MNL_ALIGN(sizeof(nfgenmsg))) return {};
  if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES) return {};
  std::optional<Kind> kind = removal_kind(NFNL_MSG_TYPE(nlh->nlmsg_type));
  if (!kind) return {};
  std::optional<std::vector<char>> copy = filter(nlh, *kind);
  if (!copy) return {};
  const auto* msg = reinterpret_cast<const nlmsghdr*>(copy->data());
  RulesetEvent ev = event_of(*kind);
  ev.family = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(msg))->nfgen_family;
  if (!decode(msg, ev) || ev.table.empty()) return {};
  std::vector<RulesetEvent> out;
  out.push_back(std::move(ev));
  return out;
}

Result<std::unique_ptr<RulesetMonitor>> open_ruleset_monitor() {
  NetfilterSocketOptions options;
  options.cap_ack = false;  // it sends nothing
  options.group = NFNLGRP_NFTABLES;
  options.receive_buffer = kReceiveBuffer;
  auto sock = open_netfilter_socket(options, monitor_error);
  if (!sock) return sock.take_error();
  return std::unique_ptr<RulesetMonitor>(new NetlinkRulesetMonitor(std::move(*sock)));
}

}  // namespace nftpm
