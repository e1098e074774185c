// Owners for libnftnl and libmnl handles: each freed by its own function when it goes out of scope.
// Shared by the nftables implementation and the ruleset monitor (and their tests).
#pragma once

#include <memory>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "nftpm/deferred_close.h"

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

}  // namespace nftpm
