// Where records live and how they change; every write is atomic, every reader distrusts what it
// finds (see record_store.h for the layout and the ordering that makes SIGKILL safe).
#include "nftpm/record_store.h"

#include <algorithm>
#include <ctime>

namespace nftpm {

namespace {

constexpr const char* kDeletingSuffix = ".deleting";
// No network can be named so: network names begin with a letter or digit.
constexpr const char* kLockName = ".lock";
constexpr int kLockTimeoutMs = 30000;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string file_name(const OwnerTag& o) {
  // ':' is in neither a container ID nor an interface name, so the name is unambiguous.
  return o.container_id + ":" + o.ifname;
}

const char* kind_text(FileInfo::Kind k) {
  switch (k) {
    case FileInfo::Kind::kSymlink: return "a symbolic link";
    case FileInfo::Kind::kDir: return "a directory";
    case FileInfo::Kind::kFile: return "a regular file";
    default: return "not a regular file";
  }
}

}  // namespace

std::string RecordStore::namespace_dir() const {
  return state_dir_ + "/" + id_.boot_id + "/netns-" + std::to_string(id_.netns_cookie);
}

std::string RecordStore::network_dir(const std::string& network) const {
  return namespace_dir() + "/" + network;
}

std::string RecordStore::record_path(const OwnerTag& o) const {
  return network_dir(o.network) + "/" + file_name(o);
}

std::string RecordStore::deleting_path(const OwnerTag& o) const {
  return record_path(o) + kDeletingSuffix;
}

// Every level from the state directory down is private (the file system makes missing parents
// above it as mkdir -p would).
Status RecordStore::make_dirs(const std::string& network) {
  if (!namespace_dir_made_) {
    for (const auto& d : {state_dir_, state_dir_ + "/" + id_.boot_id, namespace_dir()}) {
      NFTPM_TRY(fs_.make_private_dir(d));
    }
    namespace_dir_made_ = true;
  }
  return network.empty() ? ok_status() : fs_.make_private_dir(network_dir(network));
}

Result<std::unique_ptr<FileLock>> RecordStore::lock(bool exclusive) {
  NFTPM_TRY(make_dirs(""));
  return fs_.lock(namespace_dir() + "/" + kLockName, exclusive, kLockTimeoutMs);
}

Result<std::unique_ptr<FileLock>> RecordStore::lock_shared() {
  return lock(false);
}

Result<std::unique_ptr<FileLock>> RecordStore::lock_exclusive() {
  return lock(true);
}

Status RecordStore::put(const AttachmentRecord& r) {
  NFTPM_TRY(make_dirs(r.owner.network));
  if (r.created_ns != 0) return fs_.write_atomic(record_path(r.owner), record_to_json(r, id_));
  AttachmentRecord stamped = r;
  timespec now{};
  clock_gettime(CLOCK_BOOTTIME, &now);
  stamped.created_ns = static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec);
  return fs_.write_atomic(record_path(r.owner), record_to_json(stamped, id_));
}

Result<RecordStore::Found> RecordStore::get(const OwnerTag& o) {
  Found found;
  for (bool deleting : {false, true}) {
    std::string path = deleting ? deleting_path(o) : record_path(o);
    auto info = fs_.stat(path);
    if (!info) return info.take_error();
    if (info->kind == FileInfo::Kind::kMissing) continue;
    if (info->kind != FileInfo::Kind::kFile) {
      found.bad = BadRecord{path, std::string(kind_text(info->kind)) + " where a record should be"};
      continue;
    }
    auto text = fs_.read(path);
    if (!text) {
      found.bad = BadRecord{path, text.error().msg};
      continue;
    }
    auto r = record_from_json(*text, id_);
    if (!r) {
      found.bad = BadRecord{path, r.error().msg};
      continue;
    }
    if (!(r->owner == o)) {
      found.bad = BadRecord{path, "the record names another attachment (" + r->owner.encode() + ")"};
      continue;
    }
    found.record = std::move(*r);
    found.deleting = deleting;
    break;
  }
  return found;
}

Status RecordStore::mark_deleting(const OwnerTag& o) {
  auto info = fs_.stat(record_path(o));
  if (!info) return info.take_error();
  if (info->kind == FileInfo::Kind::kMissing) return ok_status();
  return fs_.rename(record_path(o), deleting_path(o));
}

Status RecordStore::erase(const OwnerTag& o) {
  NFTPM_TRY(fs_.remove(record_path(o)));
  return fs_.remove(deleting_path(o));
}

Result<RecordStore::Listing> RecordStore::load(const std::optional<std::string>& network) {
  Listing out;
  std::vector<std::string> networks;
  if (network) {
    networks.push_back(*network);
  } else {
    auto names = fs_.list(namespace_dir());
    if (!names) return names.take_error();
    for (auto& n : *names) {
      if (n[0] != '.') networks.push_back(std::move(n));  // the lock (and nothing else of ours)
    }
  }
  std::sort(networks.begin(), networks.end());
  for (const auto& net : networks) {
    std::string dir = network_dir(net);
    auto info = fs_.stat(dir);
    if (!info) return info.take_error();
    if (info->kind == FileInfo::Kind::kMissing) continue;
    if (info->kind != FileInfo::Kind::kDir || !valid_network_name(net)) {
      out.bad.push_back(
          {dir, std::string(info->kind == FileInfo::Kind::kDir ? "not a network's directory" : kind_text(info->kind)) +
                    " where a network's directory should be"});
      continue;
    }
    auto names = fs_.list(dir);
    if (!names) {
      out.bad.push_back({dir, names.error().msg});
      continue;
    }
    std::sort(names->begin(), names->end());
    for (const auto& name : *names) {
      if (name[0] == '.') continue;  // a temporary file of a write in progress (or a crashed one)
      std::string path = dir;
      path += "/" + name;
      bool deleting = ends_with(name, kDeletingSuffix);
      std::string base = deleting ? name.substr(0, name.size() - std::string(kDeletingSuffix).size()) : name;
      auto fi = fs_.stat(path);
      if (!fi) return fi.take_error();
      if (fi->kind != FileInfo::Kind::kFile) {
        out.bad.push_back({path, std::string(kind_text(fi->kind)) + " where a record should be"});
        continue;
      }
      auto text = fs_.read(path);
      if (!text) {
        out.bad.push_back({path, text.error().msg});
        continue;
      }
      auto r = record_from_json(*text, id_);
      if (!r) {
        out.bad.push_back({path, r.error().msg});
        continue;
      }
      if (r->owner.network != net || file_name(r->owner) != base) {
        out.bad.push_back({path, "the record names another attachment (" + r->owner.encode() + ")"});
        continue;
      }
      (deleting ? out.deleting : out.live).push_back(std::move(*r));
    }
  }
  return out;
}

Result<std::unique_ptr<RecordStore>> RecordStore::open(const std::string& state_dir) {
  auto id = current_node_identity();
  if (!id) return id.take_error();
  auto fs = real_state_fs();
  auto store = std::make_unique<RecordStore>(*fs, state_dir, *id);
  store->owned_fs_ = std::move(fs);
  return store;
}

Status RecordStore::remove_stale_boot_dirs() {
  auto dirs = stale_boot_dirs();
  if (!dirs) return dirs.take_error();
  for (const auto& d : *dirs) NFTPM_TRY(fs_.remove_tree(d));
  return ok_status();
}

Status RecordStore::erase_all() {
  auto names = fs_.list(namespace_dir());
  if (!names) return names.take_error();
  for (const auto& n : *names) {
    if (n != kLockName) NFTPM_TRY(fs_.remove_tree(namespace_dir() + "/" + n));
  }
  return ok_status();
}

Result<std::vector<std::string>> RecordStore::stale_boot_dirs() {
  std::vector<std::string> out;
  auto names = fs_.list(state_dir_);
  if (!names) return names.take_error();
  for (const auto& n : *names) {
    // Boot ids are 36 characters (8-4-4-4-12); nothing else there is ours to remove.
    if (n != id_.boot_id && n.size() == 36 && std::count(n.begin(), n.end(), '-') == 4) {
      out.push_back(state_dir_ + "/" + n);
    }
  }
  return out;
}

}  // namespace nftpm
