// An in-memory StateFileSystem for unit tests: a map from absolute path to node, with the real
// implementation's refusals (real_state_fs.cc) so that the code above it is tested against them:
// no link is ever followed at the last component, a record not ours or open to others is refused,
// a directory that is not private is refused. Locks never wait: a request that flock would block
// fails at once with kTryAgainLater. Writes can be made to fail per path.
//
// Paths are absolute and without a trailing slash; "/" always exists. Parent directories are
// looked up by exact path (a link in the middle of a path is not a directory here).
#pragma once

#include <sys/types.h>

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "nftpm/state_fs.h"

namespace nftpm {

class FakeStateFs : public StateFileSystem {
 public:
  using Kind = FileInfo::Kind;
  // As a uid argument of the put_* helpers: the fake's own user (euid).
  static constexpr uid_t kOurs = static_cast<uid_t>(-1);

  struct Node {
    Kind kind = Kind::kFile;
    uid_t uid = 0;
    mode_t mode = 0600;
    std::string contents;  // a file's text, a link's target
    bool operator==(const Node&) const = default;
  };
  struct LockRequest {
    std::string path;
    bool exclusive = false;
    int timeout_ms = 0;
    bool granted = false;
  };

  // The effective user of "this process".
  uid_t euid = 0;
  std::map<std::string, Node> nodes;
  // Fault injection: write_atomic of these paths fails with kIoFailure (nothing changes).
  std::set<std::string> fail_writes;
  // Every lock asked for, in order.
  std::vector<LockRequest> lock_requests;
  // Counters, for tests that care how often something happened.
  int writes = 0, renames = 0, removes = 0;
  int stats = 0, reads = 0;

  // --- StateFileSystem --------------------------------------------------------------------------

  Status make_private_dir(const std::string& dir) override {
    if (!absolute(dir)) return io("cannot create", dir, "not an absolute path");
    if (dir == "/") return Error(ErrorCode::kIoFailure, "/ is not a private directory");
    NFTPM_TRY(make_parents(parent_of(dir)));
    auto it = nodes.find(dir);
    if (it == nodes.end()) {
      nodes[dir] = Node{Kind::kDir, euid, 0700, {}};
      return ok_status();
    }
    if (it->second.kind == Kind::kSymlink) {
      return Error(ErrorCode::kIoFailure, dir + " is a symbolic link, not a directory");
    }
    if (it->second.kind != Kind::kDir) return Error(ErrorCode::kIoFailure, dir + " is not a directory");
    return check_private(it->second, dir);
  }

  Result<FileInfo> stat(const std::string& path) override {
    ++stats;
    if (path == "/") return FileInfo{Kind::kDir, 0, 0755};
    auto it = nodes.find(path);
    if (it == nodes.end()) return FileInfo{};
    return FileInfo{it->second.kind, it->second.uid, it->second.mode};
  }

  Result<std::string> read(const std::string& path) override {
    ++reads;
    auto it = nodes.find(path);
    if (it == nodes.end()) return io("cannot open", path, "No such file or directory");
    const Node& n = it->second;
    if (n.kind == Kind::kSymlink) return Error(ErrorCode::kIoFailure, path + " is a symbolic link, not a record");
    if (n.kind != Kind::kFile) return Error(ErrorCode::kIoFailure, path + " is not a regular file");
    NFTPM_TRY(check_private(n, path));
    return n.contents;
  }

  Status write_atomic(const std::string& path, const std::string& text) override {
    std::string dir = parent_of(path);
    std::string tmp = dir + "/." + path.substr(dir == "/" ? 1 : dir.size() + 1) + ".tmp.4242";
    if (fail_writes.count(path)) return io("cannot write", tmp, "Input/output error (injected)");
    if (!is_dir(dir)) return io("cannot create", tmp, "No such file or directory");
    auto it = nodes.find(path);
    if (it != nodes.end() && it->second.kind == Kind::kDir) {
      return io("cannot rename a record to", path, "Is a directory");
    }
    // rename(2) replaces whatever non-directory is there, a link included, never its target.
    nodes[path] = Node{Kind::kFile, euid, 0600, text};
    ++writes;
    return ok_status();
  }

  Status rename(const std::string& from, const std::string& to) override {
    auto it = nodes.find(from);
    if (it == nodes.end()) return io("cannot rename", from, "No such file or directory");
    if (!is_dir(parent_of(to))) return io("cannot rename", from, "No such file or directory");
    if (from == to) return ok_status();
    auto dst = nodes.find(to);
    bool from_dir = it->second.kind == Kind::kDir;
    if (dst != nodes.end()) {
      bool to_dir = dst->second.kind == Kind::kDir;
      if (to_dir && !from_dir) return io("cannot rename", from, "Is a directory");
      if (!to_dir && from_dir) return io("cannot rename", from, "Not a directory");
      if (to_dir && !children(to).empty()) return io("cannot rename", from, "Directory not empty");
    }
    std::map<std::string, Node> moved;
    moved[to] = it->second;
    if (from_dir) {
      for (const auto& [p, n] : nodes) {
        if (under(p, from)) moved[to + p.substr(from.size())] = n;
      }
    }
    erase_tree(from);
    nodes.erase(to);
    for (auto& [p, n] : moved) nodes[p] = std::move(n);
    ++renames;
    return ok_status();
  }

  Status remove(const std::string& path) override {
    auto it = nodes.find(path);
    if (it == nodes.end()) return ok_status();
    ++removes;
    erase_tree(path);  // a directory planted where a record should be goes with its contents
    return ok_status();
  }

  Status remove_tree(const std::string& dir) override {
    if (nodes.count(dir)) ++removes;
    erase_tree(dir);
    return ok_status();
  }

  Result<std::vector<std::string>> list(const std::string& dir) override {
    if (dir != "/") {
      auto it = nodes.find(dir);
      if (it == nodes.end()) return std::vector<std::string>();
      if (it->second.kind != Kind::kDir) return io("cannot list", dir, "Not a directory");
    }
    // In reverse order: readdir promises none, so callers that need an order must sort.
    std::vector<std::string> out = children(dir);
    return std::vector<std::string>(out.rbegin(), out.rend());
  }

  Result<std::unique_ptr<FileLock>> lock(const std::string& path, bool exclusive, int timeout_ms) override {
    lock_requests.push_back({path, exclusive, timeout_ms, false});
    if (!is_dir(parent_of(path))) return io("cannot open the lock", path, "No such file or directory");
    auto it = nodes.find(path);
    if (it == nodes.end()) {
      nodes[path] = Node{Kind::kFile, euid, 0600, {}};
    } else if (it->second.kind == Kind::kSymlink) {
      return io("cannot open the lock", path, "Too many levels of symbolic links");
    } else if (it->second.kind == Kind::kDir) {
      return io("cannot open the lock", path, "Is a directory");
    }
    Holders& h = (*holders_)[path];
    if (h.exclusive || (exclusive && h.shared > 0)) {
      return Error(ErrorCode::kTryAgainLater, "the state directory is locked by another process",
                   path + " is locked (fake: no waiting)");
    }
    if (exclusive) {
      h.exclusive = true;
    } else {
      ++h.shared;
    }
    lock_requests.back().granted = true;
    return std::unique_ptr<FileLock>(new Lock(holders_, path, exclusive));
  }

  // --- for tests --------------------------------------------------------------------------------

  // Plant things; missing parents are made as private directories of ours.
  void put_dir(const std::string& path, uid_t uid = kOurs, mode_t mode = 0700) {
    ensure_parents(path);
    nodes[path] = Node{Kind::kDir, uid == kOurs ? euid : uid, mode, {}};
  }
  void put_file(const std::string& path, const std::string& text, uid_t uid = kOurs, mode_t mode = 0600) {
    ensure_parents(path);
    nodes[path] = Node{Kind::kFile, uid == kOurs ? euid : uid, mode, text};
  }
  void put_symlink(const std::string& path, const std::string& target = "/etc/shadow") {
    ensure_parents(path);
    nodes[path] = Node{Kind::kSymlink, euid, 0777, target};
  }
  // A FIFO, a socket, a device: neither a file nor a directory nor a link.
  void put_other(const std::string& path) {
    ensure_parents(path);
    nodes[path] = Node{Kind::kOther, euid, 0600, {}};
  }

  bool exists(const std::string& path) const { return path == "/" || nodes.count(path) > 0; }
  Kind kind(const std::string& path) const {
    if (path == "/") return Kind::kDir;
    auto it = nodes.find(path);
    return it == nodes.end() ? Kind::kMissing : it->second.kind;
  }
  std::optional<Node> node(const std::string& path) const {
    auto it = nodes.find(path);
    if (it == nodes.end()) return std::nullopt;
    return it->second;
  }
  // A file's (or link's) contents; nullopt when nothing is there.
  std::optional<std::string> contents(const std::string& path) const {
    auto it = nodes.find(path);
    if (it == nodes.end()) return std::nullopt;
    return it->second.contents;
  }
  // The names directly under `dir`, sorted.
  std::vector<std::string> names(const std::string& dir) const { return children(dir); }
  // Every path at or below `dir`, sorted.
  std::vector<std::string> paths_under(const std::string& dir) const {
    std::vector<std::string> out;
    for (const auto& [p, _] : nodes) {
      if (p == dir || under(p, dir)) out.push_back(p);
    }
    return out;
  }
  int shared_holders(const std::string& path) const {
    auto it = holders_->find(path);
    return it == holders_->end() ? 0 : it->second.shared;
  }
  bool exclusively_held(const std::string& path) const {
    auto it = holders_->find(path);
    return it != holders_->end() && it->second.exclusive;
  }
  bool locked(const std::string& path) const { return shared_holders(path) > 0 || exclusively_held(path); }
  // One line per node, for failure messages.
  std::string dump() const {
    std::ostringstream o;
    for (const auto& [p, n] : nodes) {
      const char* k = n.kind == Kind::kDir       ? "dir"
                      : n.kind == Kind::kFile    ? "file"
                      : n.kind == Kind::kSymlink ? "link"
                                                 : "other";
      char mode[8];
      snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(n.mode));
      o << k << " " << mode << " uid=" << n.uid << " " << p;
      if (n.kind == Kind::kSymlink) o << " -> " << n.contents;
      o << "\n";
    }
    return o.str();
  }

  static std::string parent_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
  }

 private:
  struct Holders {
    int shared = 0;
    bool exclusive = false;
  };
  using HolderMap = std::map<std::string, Holders>;

  // Shares the holder table, so a lock may even outlive the file system that granted it.
  class Lock : public FileLock {
   public:
    Lock(std::shared_ptr<HolderMap> h, std::string path, bool exclusive)
        : h_(std::move(h)), path_(std::move(path)), exclusive_(exclusive) {}
    ~Lock() override {
      Holders& x = (*h_)[path_];
      if (exclusive_) {
        x.exclusive = false;
      } else {
        --x.shared;
      }
    }

   private:
    std::shared_ptr<HolderMap> h_;
    std::string path_;
    bool exclusive_;
  };

  static bool absolute(const std::string& p) { return !p.empty() && p[0] == '/'; }
  static bool under(const std::string& p, const std::string& dir) {
    std::string prefix = dir == "/" ? "/" : dir + "/";
    return p.size() > prefix.size() && p.compare(0, prefix.size(), prefix) == 0;
  }
  static Error io(const std::string& what, const std::string& path, const std::string& why) {
    return Error(ErrorCode::kIoFailure, what + " " + path + ": " + why);
  }

  bool is_dir(const std::string& p) const { return kind(p) == Kind::kDir; }

  Status check_private(const Node& n, const std::string& path) const {
    if (n.uid != euid) {
      return Error(ErrorCode::kIoFailure, path + " is owned by uid " + std::to_string(n.uid) + ", not by uid " +
                                              std::to_string(euid) + ": records are root's alone");
    }
    if ((n.mode & 077) != 0) {
      char mode[8];
      snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(n.mode & 07777));
      return Error(ErrorCode::kIoFailure, path + " has mode " + mode + ": records are root's alone");
    }
    return ok_status();
  }

  // mkdir -p of the parents (0755, as the real one makes them); they are not checked otherwise.
  Status make_parents(const std::string& dir) {
    if (dir == "/") return ok_status();
    auto it = nodes.find(dir);
    if (it != nodes.end()) {
      if (it->second.kind == Kind::kDir) return ok_status();
      return io("cannot create", dir, "Not a directory");
    }
    NFTPM_TRY(make_parents(parent_of(dir)));
    nodes[dir] = Node{Kind::kDir, euid, 0755, {}};
    return ok_status();
  }

  void ensure_parents(const std::string& path) {
    for (std::string d = parent_of(path); d != "/" && !nodes.count(d); d = parent_of(d)) {
      nodes[d] = Node{Kind::kDir, euid, 0700, {}};
    }
  }

  std::vector<std::string> children(const std::string& dir) const {
    std::vector<std::string> out;
    std::string prefix = dir == "/" ? "/" : dir + "/";
    for (auto it = nodes.lower_bound(prefix); it != nodes.end() && it->first.compare(0, prefix.size(), prefix) == 0;
         ++it) {
      std::string rest = it->first.substr(prefix.size());
      if (!rest.empty() && rest.find('/') == std::string::npos) out.push_back(rest);
    }
    return out;
  }

  void erase_tree(const std::string& path) {
    nodes.erase(path);
    std::string prefix = path + "/";
    for (auto it = nodes.lower_bound(prefix); it != nodes.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
      it = nodes.erase(it);
    }
  }

  std::shared_ptr<HolderMap> holders_ = std::make_shared<HolderMap>();
};

}  // namespace nftpm
