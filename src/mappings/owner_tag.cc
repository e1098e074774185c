#include "nftpm/owner_tag.h"

#include "nftpm/cni.h"
#include "nftpm/config.h"

namespace nftpm {

std::string OwnerTag::encode() const {
  return "net=" + network + " id=" + container_id + " if=" + ifname;
}

std::optional<OwnerTag> OwnerTag::decode(const std::string& comment) {
  // Exactly three space-separated fields in a fixed order; anything else is not ours.
  OwnerTag t;
  std::string* out[] = {&t.network, &t.container_id, &t.ifname};
  const char* keys[] = {"net=", "id=", "if="};
  size_t pos = 0;
  for (int i = 0; i < 3; ++i) {
    std::string key = keys[i];
    if (comment.compare(pos, key.size(), key) != 0) return std::nullopt;
    pos += key.size();
    size_t end = comment.find(' ', pos);
    if ((i < 2) != (end != std::string::npos)) return std::nullopt;
    if (end == std::string::npos) end = comment.size();
    *out[i] = comment.substr(pos, end - pos);
    pos = end + 1;
  }
  if (!valid_network_name(t.network) || !valid_container_id(t.container_id) || !valid_ifname(t.ifname)) {
    return std::nullopt;
  }
  return t;
}

Result<OwnerTag> OwnerTag::make(std::string network, std::string container_id, std::string ifname) {
  OwnerTag t{std::move(network), std::move(container_id), std::move(ifname)};
  if (!valid_network_name(t.network)) return Error(ErrorCode::kInvalidConfig, "invalid network name for owner tag");
  if (!valid_container_id(t.container_id)) {
    return Error(ErrorCode::kInvalidEnvironment, "CNI_CONTAINERID is not a valid container ID");
  }
  if (!valid_ifname(t.ifname)) return Error(ErrorCode::kInvalidEnvironment, "CNI_IFNAME is not a valid interface name");
  if (t.encode().size() > kMaxOwnerTagBytes) {
    return Error(ErrorCode::kInvalidEnvironment, "network name and container ID are too long together",
                 "the owner tag '" + t.encode() + "' exceeds " + std::to_string(kMaxOwnerTagBytes) +
                     " bytes, the room nftables gives an element's comment");
  }
  return t;
}

}  // namespace nftpm
