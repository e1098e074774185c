// Putting recorded mappings back after someone else reset the ruleset, comparing the kernel with
// the records, and making records for mappings an earlier version installed without any.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nftpm/nft.h"
#include "nftpm/record_store.h"

namespace nftpm {

struct RestoreOptions {
  std::optional<std::string> network;  // only this network's records
  bool dry_run = false;                // change nothing; report what would be done
};

struct RestoreReport {
  size_t records = 0;                                       // live records looked at
  std::vector<OwnerTag> restored;                           // records some of whose elements were put back
  size_t elements_added = 0;                                // elements created (or replaced) in the kernel
  std::vector<std::pair<OwnerTag, std::string>> conflicts;  // not restored, and why
  std::vector<BadRecord> bad;                               // records that could not be trusted (left in place)
  std::vector<OwnerTag> finished_deletes;                   // .deleting records whose DEL was completed
  size_t batches = 0;                                       // nftables batches committed

  // Every live, trustworthy record is in the kernel.
  bool complete() const { return conflicts.empty() && bad.empty(); }
};

// Re-installs every element the records of `store` want and the kernel lacks, creating the table
// and chains as needed, in one generation-guarded batch (retried when the ruleset changes
// underneath). Holds the store's exclusive lock, so no ADD or DEL of that store is half done
// meanwhile; finishes every DEL that was interrupted; never takes a host port another owner holds
// (a conflict, reported). Idempotent: with nothing missing it commits nothing.
Result<RestoreReport> restore_records(Nftables& nft, RecordStore& store, const RestoreOptions& options);

// How the kernel differs from one record: a line per missing or wrong element, naming it.
Result<std::vector<std::string>> compare_with_kernel(Nftables& nft, const AttachmentRecord& record);

// The records that would describe what the live ruleset holds for owners with no record (mappings
// an earlier version made): one per owner, from each element's owner comment, key and target and
// the network's excluded devices. `network`: only that network's owners.
Result<std::vector<AttachmentRecord>> records_from_ruleset(Nftables& nft, RecordStore& store,
                                                           const std::optional<std::string>& network);

}  // namespace nftpm
