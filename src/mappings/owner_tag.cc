#include "nftpm/owner_tag.h"

#include <cctype>

namespace nftpm {

bool valid_cni_name(const std::string& name, size_t max_len) {
  if (name.empty() || name.size() > max_len) return false;
  if (!std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (!(std::isalnum(c) || c == '_' || c == '.' || c == '-')) return false;
  }
  return true;
}

bool valid_network_name(const std::string& name) {
  return valid_cni_name(name, 64);
}

bool valid_container_id(const std::string& id) {
  return valid_cni_name(id, 200);
}

bool valid_ifname(const std::string& name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || c == '/' || c == ':') return false;
  }
  return true;
}

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
