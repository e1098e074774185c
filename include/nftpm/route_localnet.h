// localhost:hostPort needs the kernel to route a packet from 127.0.0.1 out of the interface that
// leads to the container, which it does only with route_localnet on that interface. The table's
// localnet-guard chain drops packets to 127/8 arriving from outside (CVE-2020-8558) before this
// is ever turned on.
#pragma once

#include <netinet/in.h>

#include <string>

#include "nftpm/error.h"

namespace nftpm {

// The interface the kernel routes `dst` through, and whether route_localnet is on there (its own
// setting, as its /proc file shows it): rtnetlink alone, one socket, two requests.
struct RouteDevice {
  std::string name;
  bool route_localnet = false;
};
Result<RouteDevice> route_device(const in_addr& dst);
// Sets net.ipv4.conf.<ifname>.route_localnet = 1 unless it is already: the file
// <proc_sys>/net/ipv4/conf/<ifname>/route_localnet (`proc_sys` is /proc/sys but in unit tests).
// An `ifname` that is no interface name (valid_ifname: "..", "a/b", too long) is refused before
// any path is made of it.
Status enable_route_localnet(const std::string& ifname, const std::string& proc_sys = "/proc/sys");

}  // namespace nftpm
