#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "nftpm/cni.h"

namespace nftpm {

const std::vector<std::string> kSupportedVersions = {"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};

bool is_supported_version(const std::string& v) {
  return std::find(kSupportedVersions.begin(), kSupportedVersions.end(), v) != kSupportedVersions.end();
}

// One dotted component from `s` at `i`: its digits' value, saturated (versions come from other
// plugins' output, so a component may be any length), non-digits counting as nothing.
static long version_component(const std::string& s, size_t& i) {
  constexpr long kCap = 1'000'000'000;
  long v = 0;
  for (; i < s.size() && s[i] != '.'; ++i) {
    if (std::isdigit(static_cast<unsigned char>(s[i]))) v = std::min(kCap, v * 10 + (s[i] - '0'));
  }
  ++i;  // past the dot
  return v;
}

int compare_versions(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    long x = version_component(a, i), y = version_component(b, j);
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

bool is_legacy_result_version(const std::string& v) {
  return compare_versions(v, "0.3.0") < 0;
}

}  // namespace nftpm
