// Owners for libnftnl and libmnl handles: each freed by its own function when it goes out of scope.
// Shared by the nftables implementation and the ruleset monitor (and their tests).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "nftpm/deferred_close.h"
#include "nftpm/error.h"

namespace nftpm {

template <typename T, auto F>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using TablePtr = std::unique_ptr<nftnl_table, Deleter<nftnl_table, nftnl_table_free>>;
using ChainPtr = std::unique_ptr<nftnl_chain, Deleter<nftnl_chain, nftnl_chain_free>>;
using SetPtr = std::unique_ptr<nftnl_set, Deleter<nftnl_set, nftnl_set_free>>;
using RulePtr = std::unique_ptr<nftnl_rule, Deleter<nftnl_rule, nftnl_rule_free>>;
using GenPtr = std::unique_ptr<nftnl_gen, Deleter<nftnl_gen, nftnl_gen_free>>;
using UdataPtr = std::unique_ptr<nftnl_udata_buf, Deleter<nftnl_udata_buf, nftnl_udata_buf_free>>;
using IterPtr = std::unique_ptr<nftnl_set_elems_iter, Deleter<nftnl_set_elems_iter, nftnl_set_elems_iter_destroy>>;
// A netfilter socket is closed through close_netfilter_socket (deferred_close.h).
struct SocketCloser {
  void operator()(mnl_socket* s) const { close_netfilter_socket(s); }
};
using SocketPtr = std::unique_ptr<mnl_socket, SocketCloser>;

// How a netfilter netlink socket is set up for its use.
struct NetfilterSocketOptions {
  bool cap_ack = true;     // NETLINK_CAP_ACK: acks without the request copied back
  bool ext_ack = false;    // NETLINK_EXT_ACK: the kernel's message with an error
  unsigned group = 0;      // a notification group to join (NFNLGRP_*); 0: none
  int receive_buffer = 0;  // bytes (SO_RCVBUFFORCE, else as much as rmem_max allows); 0: the default
};
// The error of a failed step ("opening a netfilter netlink socket", errno), worded by the caller.
using SocketErrorFn = std::function<Error(const std::string& what, int err)>;
// Every netfilter netlink socket of the plugin is opened here: close-on-exec, bound, set up as
// `options` asks (nf_tables batches, the nf_tables notifications, ctnetlink).
Result<SocketPtr> open_netfilter_socket(const NetfilterSocketOptions& options, const SocketErrorFn& error);

// Room for one datagram read from a netfilter socket (acks, answers, a dump's part). Left
// uninitialised: the kernel writes what it sends, and zeroing 64 KiB cost every call 16 page faults.
constexpr size_t kReceiveBytes = size_t{1} << 16;
inline std::unique_ptr<char[]> receive_buffer() {
  return std::make_unique_for_overwrite<char[]>(kReceiveBytes);
}

}  // namespace nftpm
