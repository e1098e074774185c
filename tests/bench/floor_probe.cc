// The floor of a plugin call: start, open a netfilter netlink socket, commit one
// batch adding or deleting one map element, read the acks, exit. Benchmarks report every figure
// as a multiple of this, measured in the same run.
//
// With COUNT, the batch adds or deletes COUNT elements (ports PORT..PORT+COUNT-1), each with an
// owner comment as long as the plugin's: the floor of a container with COUNT mappings.
//
// usage: nftpm-floor-probe add|del PORT [COUNT]   (on the table and map scripts/bench creates)
#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "nftpm/layout.h"
#include "nftpm/nft.h"

int main(int argc, char** argv) {
  using namespace nftpm;
  if ((argc != 3 && argc != 4) || (std::strcmp(argv[1], "add") != 0 && std::strcmp(argv[1], "del") != 0)) {
    std::fprintf(stderr, "usage: nftpm-floor-probe add|del PORT [COUNT]\n");
    return 2;
  }
  auto nft = open_netlink_nftables();
  if (!nft) return 1;
  in_addr target{};
  inet_pton(AF_INET, "10.254.0.1", &target);
  int port = std::atoi(argv[2]);
  int count = argc == 4 ? std::atoi(argv[3]) : 1;
  if (port < 1 || count < 1 || port + count - 1 > 65535) return 2;
  // As long as the plugin's owner tag for a container ID of 64 hex digits.
  std::string owner = count == 1 ? "floor" : "net=floor id=" + std::string(64, 'f') + " if=eth0";
  std::vector<NftElement> elements;
  for (int p = port; p < port + count; ++p) {
    auto key = encode_key(Protocol::kTcp, static_cast<uint16_t>(p));
    elements.push_back({"floor", key, encode_v4_target(target, 80), owner});
  }
  NftTransaction tx("nftpm_floor");
  if (argv[1][0] == 'a') {
    tx.create_elements(elements);
  } else {
    tx.delete_elements(elements);
  }
  auto out = (*nft)->commit(tx, std::nullopt);
  return out && out->error == 0 ? 0 : 1;
}
