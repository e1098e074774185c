// NodeEffects that touch nothing and remember every request, for tests to assert on: the
// conntrack sweeps a verb asked for (one entry per request, in order) and the container
// addresses it made localhost:hostPort routable for.
#pragma once

#include <netinet/in.h>

#include <vector>

#include "nftpm/plugin.h"

namespace nftpm {

class FakeNodeEffects : public NodeEffects {
 public:
  void sweep_conntrack(const std::vector<ConntrackSweep>& s) override { sweep_requests.push_back(s); }
  void enable_localhost(const in_addr& container) override { localhost.push_back(container); }

  // Every sweep of every request, in order.
  std::vector<ConntrackSweep> sweeps() const {
    std::vector<ConntrackSweep> all;
    for (const auto& r : sweep_requests) all.insert(all.end(), r.begin(), r.end());
    return all;
  }

  std::vector<std::vector<ConntrackSweep>> sweep_requests;
  std::vector<in_addr> localhost;
};

}  // namespace nftpm
