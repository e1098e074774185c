// The operator's command line (the binary run with no CNI_COMMAND): list, check, remove, gc,
// uninstall, restore, adopt, watch, migrate-from-iptables. Returns the process exit status.
#pragma once

#include "nftpm/standard_streams.h"  // first: before anything can include <iostream>

#include <string>

#include "nftpm/plugin.h"
#include "nftpm/process.h"

namespace nftpm {

// What the command line works on: the kernel's nftables, the attachment records, other programs
// (iptables-save/-restore, delegates looked for), /proc/sys, and where it prints. Every member
// defaults to the real one; unit tests hand in fakes.
struct CliSystem {
  NftablesFactory nftables = open_netlink_nftables;
  RecordStoreFactory records = disk_record_stores();
  ProcessRunner* processes = &system_processes();
  std::string proc_sys = "/proc/sys";  // where net/ipv4/ip_forward is read
  std::ostream* out = &std::cout;
  std::ostream* err = &std::cerr;
};

int run_cli(int argc, char** argv, const CliSystem& sys);
// On the real system.
int run_cli(int argc, char** argv);

}  // namespace nftpm
