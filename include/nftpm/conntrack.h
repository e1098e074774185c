// Stale connection-tracking entries for a host port, removed over ctnetlink so a reused port does
// not keep sending a flow (UDP above all) to a container that is gone, or past a new mapping.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <netinet/in.h>

#include "nftpm/error.h"

namespace nftpm {

struct FlowTarget {
  int family = AF_INET;  // AF_INET or AF_INET6
  in6_addr addr{};       // v4 in the first 4 bytes
  uint16_t port = 0;
};

struct ConntrackSweep {
  uint8_t proto = 6;
  uint16_t host_port = 0;
  // ADD: every flow to this host port on a local address that is not translated to one of
  // `keep` (un-translated UDP flows that predate the mapping, flows to an old container).
  // DEL: only the flows translated to one of `targets`.
  enum class Mode { kAfterAdd, kAfterDelete } mode = Mode::kAfterDelete;
  std::vector<FlowTarget> targets;
};

// One conntrack entry, as much of it as a sweep looks at.
struct ConntrackFlow {
  int family = AF_INET;
  uint8_t proto = 0;
  std::optional<in6_addr> orig_dst;  // where the client sent it (v4 in the first 4 bytes)
  uint16_t orig_dst_port = 0;
  bool dnat = false;                  // IPS_DST_NAT: translated by a DNAT rule
  std::optional<in6_addr> reply_src;  // where it was translated to
  uint16_t reply_src_port = 0;
};

// The node's own addresses; 127/8 and ::1 always count.
struct LocalAddresses {
  std::vector<in_addr> v4;
  std::vector<in6_addr> v6;
  bool has(int family, const in6_addr& addr) const;
  // This node's, from getifaddrs().
  static LocalAddresses of_this_node();
};

// Whether sweep `s` deletes `flow` (see ConntrackSweep::Mode); `local` matters only after ADD.
bool sweep_deletes(const ConntrackSweep& s, const ConntrackFlow& flow, const LocalAddresses& local);

class ConntrackTable {
 public:
  virtual ~ConntrackTable() = default;
  // Returns how many entries were deleted.
  virtual Result<int> sweep(const ConntrackSweep& s) = 0;
  // All of `sweeps` with one walk of the table per protocol, both families at once (not one per
  // sweep), and none when the namespace tracks no flow.
  virtual Result<int> sweep_all(const std::vector<ConntrackSweep>& sweeps) {
    int n = 0;
    for (const auto& s : sweeps) {
      auto r = sweep(s);
      if (!r) return r.take_error();
      n += *r;
    }
    return n;
  }
};

// The kernel's table over ctnetlink; the dump is filtered in the kernel by protocol and port
// (CTA_FILTER, Linux 5.8+), with a plain dump as the fallback.
Result<std::unique_ptr<ConntrackTable>> open_conntrack();

}  // namespace nftpm
