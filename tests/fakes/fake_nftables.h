// An in-memory ruleset with the kernel's semantics for the Nftables operations: what unit tests
// run the mapping table, the verbs and restore against, and assert on (dump()).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "nftpm/nft.h"

namespace nftpm {

// An in-memory ruleset with the kernel's semantics for the operations above.
class FakeNftables : public Nftables {
 public:
  Result<uint32_t> generation() override { return gen_; }
  Result<std::optional<TableContents>> list_table(const std::string& table) override;
  Result<std::optional<NftElement>> get_element(const std::string& table, const std::string& set,
                                                const Bytes& key) override;
  Result<std::vector<NftElement>> list_elements(const std::string& table, const std::string& set) override;
  Result<CommitOutcome> commit(const NftTransaction& tx, std::optional<uint32_t> genid) override;
  Result<CommitOutcome> dry_run(const NftTransaction& tx) override;

  // The whole ruleset, one sorted line per object: what unit tests assert on.
  std::string dump() const;
  std::vector<NftTransaction> committed;  // every batch that was applied
  int commits_attempted = 0;
  int element_lookups = 0;  // (set, key) pairs looked up one by one
  // Fault injection: called before a commit is judged (e.g. to change the ruleset underneath).
  std::function<void(FakeNftables&)> before_commit;
  // Fails the next commit with this errno (0: off).
  int fail_next_commit = 0;

  struct Table {
    std::map<std::string, NftChain> chains;
    std::map<std::string, NftSet> sets;
    std::vector<NftRule> rules;
    std::map<std::string, std::map<Bytes, NftElement>> elements;
  };
  std::map<std::string, Table> tables;
  uint32_t gen_ = 1;
};

}  // namespace nftpm
