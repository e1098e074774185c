// Moving a node from mesos-cni-port-mapper (iptables) to this plugin without restarting its
// containers: read the old plugin's DNAT rules, add the same mappings to our table with the right
// owners, then remove the old rules, jumps and chain. Flows already established keep their
// conntrack entries, so they keep working throughout.
#pragma once

#include <string>
#include <vector>

#include "nftpm/config.h"
#include "nftpm/error.h"

namespace nftpm {

struct OldMapping {
  std::string container_id;
  PortMapping mapping;  // host_port, container_port, protocol
  std::string container_ip;
};

struct OldPluginRules {
  std::string chain;
  std::vector<OldMapping> mappings;
  std::vector<std::string> jump_rules;  // "-A PREROUTING … -j CHAIN" lines, as iptables-save prints them
  std::vector<std::string> excluded;    // devices of "! -i DEV" in the jumps
  std::vector<std::string> unparsed;    // rules in the chain we could not read (reported, kept)
};

// Reads `iptables-save -t nat` output for the old plugin's chain `chain`.
OldPluginRules parse_old_plugin_rules(const std::string& iptables_save, const std::string& chain);
// The iptables-restore --noflush input that removes the jumps, the rules and the chain.
std::string removal_script(const OldPluginRules& r);
// Splits one iptables-save line into words, honouring double quotes and backslash escapes.
std::vector<std::string> split_rule_words(const std::string& line);

}  // namespace nftpm
