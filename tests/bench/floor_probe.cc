// The floor of a plugin call: start, open a netfilter netlink socket, commit one
// batch adding or deleting one map element, read the acks, exit. Benchmarks report every figure
// as a multiple of this, measured in the same run.
//
// usage: nftpm-floor-probe add|del PORT   (on the table and map scripts/bench creates)
#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "nftpm/layout.h"
#include "nftpm/nft.h"

int main(int argc, char** argv) {
  using namespace nftpm;
  if (argc != 3 || (std::strcmp(argv[1], "add") != 0 && std::strcmp(argv[1], "del") != 0)) {
    std::fprintf(stderr, "usage: nftpm-floor-probe add|del PORT\n");
    return 2;
  }
  auto nft = open_netlink_nftables();
  if (!nft) return 1;
  in_addr target{};
  inet_pton(AF_INET, "10.254.0.1", &target);
  auto port = static_cast<uint16_t>(std::atoi(argv[2]));
  NftElement e{"floor", encode_key(Protocol::kTcp, port), encode_v4_target(target, 80), "floor"};
  NftTransaction tx("nftpm_floor");
  if (argv[1][0] == 'a') {
    tx.create_elements({e});
  } else {
    tx.delete_elements({e});
  }
  auto out = (*nft)->commit(tx, std::nullopt);
  return out && out->error == 0 ? 0 : 1;
}
