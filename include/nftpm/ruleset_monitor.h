// Notifications of nf_tables changes: the NFNLGRP_NFTABLES netlink group, which is what
// `nft monitor` reads. The watcher (`nft-port-mapper watch`) listens here for removals of the
// plugin's table, chains, sets, rules and elements made by someone else, and restores.
#pragma once

#include <linux/netlink.h>

#include <memory>
#include <string>
#include <vector>

#include "nftpm/error.h"

namespace nftpm {

struct RulesetEvent {
  enum class Kind {
    kTableRemoved,     // NFT_MSG_DELTABLE (also what `flush ruleset` sends per table)
    kChainRemoved,     // NFT_MSG_DELCHAIN
    kSetRemoved,       // NFT_MSG_DELSET
    kRuleRemoved,      // NFT_MSG_DELRULE
    kElementsRemoved,  // NFT_MSG_DELSETELEM
    kOverrun,          // the socket's buffer overflowed (ENOBUFS): notifications were lost
  };
  Kind kind;
  int family = 0;     // NFPROTO_* of the table
  std::string table;  // the table's name (empty for kOverrun)
  std::string set;    // kSetRemoved, kElementsRemoved: the set's name
  // kElementsRemoved: each removed element's comment (NFTNL_UDATA_SET_ELEM_COMMENT), "" if none.
  std::vector<std::string> comments;
};

// One netlink message of the group, decoded; nothing for messages that remove nothing
// (NEW*, NEWGEN, ...). Exposed for unit tests, which feed it messages built by hand.
std::vector<RulesetEvent> parse_ruleset_notification(const nlmsghdr* nlh);

class RulesetMonitor {
 public:
  virtual ~RulesetMonitor() = default;
  // Waits at most `timeout_ms` (-1: forever) for notifications and returns every event read; an
  // empty vector means the time ran out. Blocks in poll(): no CPU while nothing happens.
  virtual Result<std::vector<RulesetEvent>> wait(int timeout_ms) = 0;
};

// A NETLINK_NETFILTER socket joined to NFNLGRP_NFTABLES in this network namespace, with a receive
// buffer large enough for a flush of a large ruleset.
Result<std::unique_ptr<RulesetMonitor>> open_ruleset_monitor();

}  // namespace nftpm
