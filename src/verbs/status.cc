#include "nftpm/status.h"

#include <arpa/inet.h>
#include <sys/utsname.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "nftpm/layout.h"

namespace nftpm {

std::pair<int, int> parse_kernel_release(const std::string& release) {
  int major = 0, minor = 0;
  if (std::sscanf(release.c_str(), "%d.%d", &major, &minor) != 2) return {0, 0};
  return {major, minor};
}

Status probe_kernel_features(Nftables& nft) {
  utsname u{};
  uname(&u);
  std::string release = u.release;
  auto [major, minor] = parse_kernel_release(release);
  bool too_old = major != 0 && (major < kMinKernelMajor || (major == kMinKernelMajor && minor < kMinKernelMinor));

  NetworkLayout net{"probe"};
  NftTransaction tx(std::string(kTableName) + "_probe");
  add_missing_objects(tx, std::nullopt, net);
  in_addr v4{};
  in6_addr v6{};
  inet_pton(AF_INET, "192.0.2.1", &v4);
  inet_pton(AF_INET6, "2001:db8::1", &v6);
  Bytes key = encode_key(Protocol::kTcp, 1);
  tx.create_elements({{kPortSet, key, {}, "probe"}});
  tx.create_elements({{net.v4_map(), key, encode_v4_target(v4, 1), "probe"}});
  tx.create_elements({{net.v6_map(), key, encode_v6_target(v6, 1), "probe"}});
  tx.add_elements({{net.exclude_set(), encode_ifname("probe0"), {}, {}}});

  auto out = nft.dry_run(tx);
  std::string kernel = "Linux " + release;
  if (!out) {
    Error e = out.take_error();
    if (too_old) e.details = kernel + " is older than the 5.2 this plugin needs (NAT in the inet family)";
    return e;
  }
  if (out->error == EPERM || out->error == EACCES) {
    return Error(ErrorCode::kNftablesFailure, "not permitted to program nftables here",
                 "the plugin needs CAP_NET_ADMIN in the node's network namespace (run it as root)");
  }
  if (out->error != 0) {
    std::string op_text;
    {
      NftTransaction one(tx.table());
      const auto& op = tx.ops()[out->failed_op];
      switch (op.type) {
        case NftTransaction::OpType::kAddChain: one.add_chain(op.chain); break;
        case NftTransaction::OpType::kAddSet: one.add_set(op.set); break;
        case NftTransaction::OpType::kAddRule: one.add_rule(op.rule); break;
        case NftTransaction::OpType::kAddTable: one.add_table(); break;
        case NftTransaction::OpType::kDeleteTable: one.delete_table(); break;
        default: one.add_elements(op.elements); break;
      }
      op_text = one.dump();
      while (!op_text.empty() && op_text.back() == '\n') op_text.pop_back();
    }
    return Error(ErrorCode::kNftablesFailure,
                 "this kernel cannot run the port mapper's nftables layout: '" + op_text +
                     "' failed: " + std::strerror(out->error),
                 kernel + (too_old ? " is older than 5.2, which NAT in the inet family needs"
                                   : "; the layout needs nf_tables with the nat, fib and hash-set modules "
                                     "(nft_chain_nat, nft_nat, nft_fib_inet, nft_hash)"));
  }
  return ok_status();
}

}  // namespace nftpm
