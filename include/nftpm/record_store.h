// The plugin's own memory of each attachment: what ADD installed, kept outside the kernel so it can
// be put back after someone else's `flush ruleset` (README, "When the ruleset is reset").
//
// Layout under the state directory (`stateDir`, default /run/cni/nft-port-mapper):
//
//   <stateDir>/<boot id>/netns-<cookie>/.lock                    flock: shared by plugin calls,
//                                                                exclusive for restore
//   <stateDir>/<boot id>/netns-<cookie>/<network>/<id>:<ifname>  a live record (JSON)
//   <stateDir>/<boot id>/netns-<cookie>/<network>/<id>:<ifname>.deleting
//                                                                a record whose DEL has begun
//
// The boot id (/proc/sys/kernel/random/boot_id) keeps a record from outliving the boot that made
// it, even in a persistent directory; the network namespace cookie (SO_NETNS_COOKIE, never reused
// within a boot) keeps a restore in one namespace from installing what another recorded. Every
// record also carries both, and one that disagrees with its place is not trusted.
//
// Ordering, so that SIGKILL at any instant leaves a state the next DEL, restore or GC completes:
// ADD writes the record before it commits the mappings; DEL renames it to .deleting before it
// removes the mappings and unlinks it after; restore finishes every .deleting record's removal and
// never installs from one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nftpm/config.h"
#include "nftpm/error.h"
#include "nftpm/mapping_table.h"
#include "nftpm/owner_tag.h"
#include "nftpm/state_fs.h"

namespace nftpm {

inline constexpr int kRecordFormatVersion = 1;

// Which boot and which network namespace a record belongs to.
struct NodeIdentity {
  std::string boot_id;
  uint64_t netns_cookie = 0;
  bool operator==(const NodeIdentity&) const = default;
};
// This process's: the kernel's boot id and its network namespace's cookie.
Result<NodeIdentity> current_node_identity();

// Everything MappingTable::add needs to put one attachment's mappings back.
struct AttachmentRecord {
  OwnerTag owner;
  std::string chain;
  std::vector<std::string> exclude_devices;
  MappingOptions options;
  ContainerAddrs addrs;
  std::vector<PortMapping> mappings;
  // When the record was first written (CLOCK_BOOTTIME, ns; put() fills it in). Of two records
  // claiming one host port, the older is the port's holder: the younger can only be an ADD that
  // was killed between its record and its refused commit.
  uint64_t created_ns = 0;
};

std::string record_to_json(const AttachmentRecord& r, const NodeIdentity& id);
// Refuses anything but a whole, valid record of this format version for `id`.
Result<AttachmentRecord> record_from_json(const std::string& text, const NodeIdentity& id);

// A record that cannot be trusted, by path and why.
struct BadRecord {
  std::string path;
  std::string why;
};

class RecordStore;
// A state directory's records, read under its exclusive lock (the operator's commands that change
// them: remove, gc, uninstall, adopt).
struct LockedRecords {
  std::unique_ptr<RecordStore> store;
  std::unique_ptr<FileLock> lock;
};

class RecordStore {
 public:
  RecordStore(StateFileSystem& fs, std::string state_dir, NodeIdentity id)
      : fs_(fs), state_dir_(std::move(state_dir)), id_(std::move(id)) {}
  // The real file system and this process's identity.
  static Result<std::unique_ptr<RecordStore>> open(const std::string& state_dir);

  const std::string& state_dir() const { return state_dir_; }
  // <stateDir>/<boot id>/netns-<cookie>
  std::string namespace_dir() const;
  std::string record_path(const OwnerTag& o) const;
  std::string deleting_path(const OwnerTag& o) const;

  // Plugin calls hold the shared lock around their record and nftables steps; restore holds the
  // exclusive one, so it never sees a DEL or ADD half done.
  Result<std::unique_ptr<FileLock>> lock_shared();
  Result<std::unique_ptr<FileLock>> lock_exclusive();

  // Writes (replaces) the owner's live record, atomically and durably.
  Status put(const AttachmentRecord& r);

  struct Found {
    std::optional<AttachmentRecord> record;  // live, or else .deleting
    bool deleting = false;
    std::optional<BadRecord> bad;  // something is at the path but cannot be trusted
  };
  // The owner's record. Never fails for a bad record (see `bad`); fails only when the directory
  // cannot be read at all.
  Result<Found> get(const OwnerTag& o);

  // DEL's first step: the live record becomes .deleting (nothing live: no-op).
  Status mark_deleting(const OwnerTag& o);
  // Removes the live and the .deleting record of the owner (whatever is at those paths).
  Status erase(const OwnerTag& o);

  struct Listing {
    std::vector<AttachmentRecord> live;      // sorted by path
    std::vector<AttachmentRecord> deleting;  // sorted by path
    std::vector<BadRecord> bad;
  };
  // Every record of this boot and namespace (of one network, if given).
  Result<Listing> load(const std::optional<std::string>& network = std::nullopt);

  // Directories of other boots under the state directory: never restored, removed by restore.
  Result<std::vector<std::string>> stale_boot_dirs();
  Status remove_stale_boot_dirs();
  // Every record of this boot and namespace (uninstall --force).
  Status erase_all();

 private:
  std::string network_dir(const std::string& network) const;
  Result<std::unique_ptr<FileLock>> lock(bool exclusive);
  Status make_dirs(const std::string& network);

  std::unique_ptr<StateFileSystem> owned_fs_;  // open()'s
  StateFileSystem& fs_;
  std::string state_dir_;
  NodeIdentity id_;
  bool namespace_dir_made_ = false;  // and checked, by this store
};

}  // namespace nftpm
