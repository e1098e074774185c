// Can this node run the plugin? Asked by the CNI STATUS verb (and the operator's node check).
#pragma once

#include <string>

#include "nftpm/error.h"
#include "nftpm/nft.h"

namespace nftpm {

// The oldest kernel the layout works on: NAT in the inet family arrived in Linux 5.2.
inline constexpr int kMinKernelMajor = 5, kMinKernelMinor = 2;

// "6.1.0-13-amd64" -> {6, 1}; {0, 0} if unreadable.
std::pair<int, int> parse_kernel_release(const std::string& release);

// Has the kernel check (and abort) a batch building the whole layout with one mapping of each
// kind in a scratch table. Fails with a message naming the kernel and what is missing.
Status probe_kernel_features(Nftables& nft);

}  // namespace nftpm
