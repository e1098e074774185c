// The command line's verbs on attachment records (restore, adopt and watch), and what every
// command shares: errors to the system's err stream, the records under their exclusive lock.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "nftpm/cli.h"
#include "nftpm/error.h"
#include "nftpm/record_store.h"
#include "nftpm/ruleset_monitor.h"

namespace nftpm {

// Prints "nft-port-mapper: <msg> (<details>)" to sys.err; returns the exit status 1.
int fail(const CliSystem& sys, const Error& e);
// The records of `state_dir` (through sys.records) under their exclusive lock: the operator's
// commands that change them (remove, gc, uninstall, adopt).
Result<LockedRecords> lock_state_dir(const CliSystem& sys, const std::string& state_dir);
// printf into a string.
std::string strprintf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Puts back every recorded mapping the kernel lacks. Exit 0 when everything recorded is in place.
int cmd_restore(const CliSystem& sys, const std::string& state_dir, const std::optional<std::string>& network,
                bool dry_run);
// Records what the live ruleset holds for owners with no record (mappings made by an earlier
// version), so that restore protects them too.
int cmd_adopt(const CliSystem& sys, const std::string& state_dir, const std::optional<std::string>& network,
              bool dry_run);
// What a burst of notifications says is gone that restore would put back ("" if nothing): the
// plugin's table, a chain, set or rule of it, or elements whose owner still has a live record
// (the plugin's own DELs mark theirs .deleting first). Each owner's record is looked up once per
// burst, however many of its elements the burst names.
std::string what_was_lost(const std::vector<RulesetEvent>& events, RecordStore& store);
// Listens to nf_tables notifications and restores whenever the plugin's table, chains or
// recorded elements are removed by someone else. Runs until killed.
int cmd_watch(const CliSystem& sys, const std::string& state_dir, int settle_ms);

}  // namespace nftpm
