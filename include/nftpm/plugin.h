// The CNI verbs, from validated input to a result: protocol code, separate from nftables code.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "nftpm/cni.h"
#include "nftpm/conntrack.h"
#include "nftpm/delegate.h"
#include "nftpm/nft.h"
#include "nftpm/record_store.h"

namespace nftpm {

struct PluginOutput {
  std::string stdout_text;  // a result or an error document
  int exit_code = 0;
  // The config's `deferClose` (true without a readable config): may the netfilter sockets' last
  // close be left to a child after the answer (deferred_close.h)? main acts on it.
  bool defer_close = true;
};

// Opens the kernel interface only when the verb needs it.
using NftablesFactory = std::function<Result<std::unique_ptr<Nftables>>()>;

class CallLog;

// What a verb does to the node besides nftables: stale conntrack entries and route_localnet.
// Failures there are logged, not fatal: the mappings themselves are in place.
class NodeEffects {
 public:
  virtual ~NodeEffects() = default;
  virtual void sweep_conntrack(const std::vector<ConntrackSweep>& sweeps) = 0;
  virtual void enable_localhost(const in_addr& container) = 0;

  // For the length of one plugin call, warnings go to that call's log (call_log.h).
  class Reporting {
   public:
    Reporting(NodeEffects& effects, CallLog& log);
    ~Reporting();
    Reporting(const Reporting&) = delete;
    Reporting& operator=(const Reporting&) = delete;

   private:
    NodeEffects& effects_;
  };

 protected:
  // To the call's log at warn level; outside a call, to stderr in the log's form.
  void warn(const std::string& text) const;

 private:
  CallLog* log_ = nullptr;
};
// Does nothing: the default, so that code under test never touches the machine it runs on.
NodeEffects& no_node_effects();
// The real ones, over ctnetlink and /proc/sys.
std::unique_ptr<NodeEffects> kernel_node_effects();

// Opens the attachment records kept in a state directory (the config's `stateDir`).
using RecordStoreFactory = std::function<Result<std::unique_ptr<RecordStore>>(const std::string& state_dir)>;
// The real one: RecordStore::open.
RecordStoreFactory disk_record_stores();

// Without `records` (an empty function) nothing is recorded: for unit tests of other concerns.
PluginOutput run_plugin(GetEnv getenv_fn, const std::string& stdin_text, const NftablesFactory& nft,
                        DelegateRunner& delegate, NodeEffects& effects = no_node_effects(),
                        const RecordStoreFactory& records = {});

}  // namespace nftpm
