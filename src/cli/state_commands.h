// The command line's verbs on attachment records: restore, adopt and watch.
#pragma once

#include <optional>
#include <string>

namespace nftpm {

// Puts back every recorded mapping the kernel lacks. Exit 0 when everything recorded is in place.
int cmd_restore(const std::string& state_dir, const std::optional<std::string>& network, bool dry_run);
// Records what the live ruleset holds for owners with no record (mappings made by an earlier
// version), so that restore protects them too.
int cmd_adopt(const std::string& state_dir, const std::optional<std::string>& network, bool dry_run);
// Listens to nf_tables notifications and restores whenever the plugin's table, chains or
// recorded elements are removed by someone else. Runs until killed.
int cmd_watch(const std::string& state_dir, int settle_ms);

}  // namespace nftpm
