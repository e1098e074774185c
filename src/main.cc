// nft-port-mapper: a CNI plugin mapping host ports to containers with nftables.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "nftpm/cli.h"
#include "nftpm/config.h"
#include "nftpm/deferred_close.h"
#include "nftpm/plugin.h"
#include "nftpm/socket_keeper.h"

int main(int argc, char** argv) {
  using namespace nftpm;
  // A person running the binary gets the tool: arguments, or a terminal on stdin. A runtime passes
  // no arguments and pipes the config; if it forgot CNI_COMMAND, that is a CNI error (code 4).
  if (std::getenv("CNI_COMMAND") == nullptr && (argc > 1 || isatty(STDIN_FILENO))) return run_cli(argc, argv);
  const char* command = std::getenv("CNI_COMMAND");
  bool version = command != nullptr && std::strcmp(command, "VERSION") == 0;
  if (!version) {
    enable_deferred_close();
    enable_socket_keeper();
    // The keeper (if this namespace has one) sends its idle socket while the config is read and
    // parsed; a call that turns out not to want it (`"deferClose": false`) hangs up unserved.
    keeper_preconnect();
  }
  // Read at most one byte over the limit, so an oversized config is refused, not truncated.
  std::string input;
  char buf[65536];
  bool read_failed = false;
  if (!version) {
    for (;;) {
      ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        read_failed = true;
        break;
      }
      if (n == 0) break;
      input.append(buf, static_cast<size_t>(n));
      if (input.size() > kMaxConfigBytes) break;
    }
  }
  PluginOutput out;
  if (read_failed) {
    out = {json_text(cni_error_to_json(
               Error(ErrorCode::kReadFailure, "cannot read the network config from stdin", std::strerror(errno)),
               "0.1.0")) +
               "\n",
           1};
  } else {
    // Nothing is expected to throw; should anything still, the caller gets an error document
    // rather than a crash with no words.
    try {
      ProcessDelegateRunner delegate;
      auto effects = kernel_node_effects();
      out = run_plugin(process_getenv, input, open_netlink_nftables, delegate, *effects, disk_record_stores());
    } catch (const std::exception& e) {
      out = {json_text(cni_error_to_json(Error(ErrorCode::kIoFailure, "internal error", e.what()), "0.1.0")) + "\n", 1};
    }
  }
  fwrite(out.stdout_text.data(), 1, out.stdout_text.size(), stdout);
  fflush(stdout);
  // The answer is out: the kernel's clean-up wait on the netfilter sockets' release is paid by
  // a child after this process has exited (include/nftpm/deferred_close.h), unless the config
  // said `"deferClose": false`.
  if (out.defer_close) {
    hand_off_deferred_closes();
  } else {
    close_kept_fds();
  }
  return out.exit_code;
}
