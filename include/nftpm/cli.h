// The operator's command line (the binary run with no CNI_COMMAND): list, check, remove, gc,
// uninstall, migrate-from-iptables. Returns the process exit status.
#pragma once

namespace nftpm {

int run_cli(int argc, char** argv);

}  // namespace nftpm
