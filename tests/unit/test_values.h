// Small values and wrappers the unit tests share: addresses from text, owners, the fake state
// directory's identity, and a view of one FakeNftables that a plugin run can own.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "fake_nftables.h"
#include "nftpm/nft.h"
#include "nftpm/owner_tag.h"
#include "nftpm/plugin.h"
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

// The CNI environment the plugin tests hand to run_plugin (through test_getenv), reset by each
// test to an ADD of container c1 on eth0.
inline std::map<std::string, std::string>& test_cni_env() {
  static std::map<std::string, std::string> env;
  return env;
}
inline void reset_test_cni_env() {
  test_cni_env() = {{"CNI_COMMAND", "ADD"},
                    {"CNI_CONTAINERID", "c1"},
                    {"CNI_NETNS", "/var/run/netns/x"},
                    {"CNI_IFNAME", "eth0"},
                    {"CNI_PATH", "/opt/cni/bin"}};
}
inline std::optional<std::string> test_getenv(const char* name) {
  auto it = test_cni_env().find(name);
  if (it == test_cni_env().end()) return std::nullopt;
  return it->second;
}
// `needle` is in `text` (the text is shown when it is not).
inline ::testing::AssertionResult has(const std::string& text, const std::string& needle) {
  if (text.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << needle << "\" is not in:\n" << text;
}

// How many times `needle` occurs in `text` (overlapping occurrences too).
inline size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

// A fresh directory under /tmp ("/tmp/<prefix>-XXXXXX"); empty on failure.
inline std::string make_temp_dir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
  return mkdtemp(tmpl.data()) ? tmpl : std::string();
}

// Hands each plugin run a view of the test's one fake ruleset.
inline std::function<Result<std::unique_ptr<Nftables>>()> shared_fake_factory(FakeNftables& nft) {
  return [&nft]() -> Result<std::unique_ptr<Nftables>> { return std::unique_ptr<Nftables>(new SharedFake(nft)); };
}

// One plugin call as a runtime makes it: `verb` for container `id` (the rest of the environment as
// reset_test_cni_env() left it, or a test changed it), over a view of the test's fake ruleset.
inline PluginOutput call_plugin(const std::string& verb, const nlohmann::json& config, const std::string& id,
                                FakeNftables& nft, DelegateRunner& delegate, NodeEffects& effects = no_node_effects(),
                                const RecordStoreFactory& records = {}) {
  test_cni_env()["CNI_COMMAND"] = verb;
  test_cni_env()["CNI_CONTAINERID"] = id;
  return run_plugin(test_getenv, config.dump(), shared_fake_factory(nft), delegate, effects, records);
}

}  // namespace nftpm
