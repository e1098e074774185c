// Owner tags read back from element comments: whatever decodes must encode to the same text,
// so that DEL's exact comparison and the decoder never disagree.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nftpm/owner_tag.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string comment(reinterpret_cast<const char*>(data), size);
  auto t = nftpm::OwnerTag::decode(comment);
  if (t && t->encode() != comment) __builtin_trap();
  if (t) {
    auto again = nftpm::OwnerTag::make(t->network, t->container_id, t->ifname);
    if (again && again->encode() != comment) __builtin_trap();
  }
  return 0;
}
