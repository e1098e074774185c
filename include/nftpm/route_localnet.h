// localhost:hostPort needs the kernel to route a packet from 127.0.0.1 out of the interface that
// leads to the container, which it does only with route_localnet on that interface. The table's
// localnet-guard chain drops packets to 127/8 arriving from outside (CVE-2020-8558) before this
// is ever turned on.
#pragma once

#include <netinet/in.h>

#include <string>

#include "nftpm/error.h"

namespace nftpm {

// The name of the interface the kernel routes `dst` through (rtnetlink RTM_GETROUTE).
Result<std::string> route_interface(const in_addr& dst);
// Sets net.ipv4.conf.<ifname>.route_localnet = 1 unless it is already: the file
// <proc_sys>/net/ipv4/conf/<ifname>/route_localnet (`proc_sys` is /proc/sys but in unit tests).
// An `ifname` that is no interface name (valid_ifname: "..", "a/b", too long) is refused before
// any path is made of it.
Status enable_route_localnet(const std::string& ifname, const std::string& proc_sys = "/proc/sys");

}  // namespace nftpm
