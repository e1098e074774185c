// Small values and wrappers the unit tests share: addresses from text, owners, the fake state
// directory's identity, and a view of one FakeNftables that a plugin run can own.
#pragma once

#include <arpa/inet.h>

#include <string>

#include "fake_nftables.h"
#include "nftpm/nft.h"
#include "nftpm/owner_tag.h"
#include "nftpm/record_store.h"

namespace nftpm {

inline in_addr v4(const char* s) {
  in_addr a{};
  inet_pton(AF_INET, s, &a);
  return a;
}
inline in6_addr v6(const char* s) {
  in6_addr a{};
  inet_pton(AF_INET6, s, &a);
  return a;
}
inline OwnerTag owner(const std::string& id, const std::string& net = "net1", const std::string& ifname = "eth0") {
  return *OwnerTag::make(net, id, ifname);
}

// The state directory of the record tests, and the boot and namespace they run in.
inline const std::string kStateDir = "/run/cni/nft-port-mapper";
inline const std::string kBoot = "6f1e2a3b-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
inline const NodeIdentity kId{kBoot, 4242};
inline const std::string kNs = kStateDir + "/" + kBoot + "/netns-4242";

// Hands the plugin a view of one shared fake, so the test can look at it afterwards.
class SharedFake : public Nftables {
 public:
  explicit SharedFake(FakeNftables& f) : f_(f) {}
  Result<uint32_t> generation() override { return f_.generation(); }
  Result<std::optional<TableContents>> list_table(const std::string& t) override { return f_.list_table(t); }
  Result<std::optional<NftElement>> get_element(const std::string& t, const std::string& s, const Bytes& k) override {
    return f_.get_element(t, s, k);
  }
  Result<std::vector<NftElement>> list_elements(const std::string& t, const std::string& s) override {
    return f_.list_elements(t, s);
  }
  Result<CommitOutcome> commit(const NftTransaction& tx, std::optional<uint32_t> g) override {
    return f_.commit(tx, g);
  }
  Result<CommitOutcome> dry_run(const NftTransaction& tx) override { return f_.dry_run(tx); }

 private:
  FakeNftables& f_;
};

}  // namespace nftpm
