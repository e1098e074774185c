// The file system under the state directory, behind a small interface so the record store is
// unit-tested without touching the disk (tests/unit/fake_state_fs.h is the fake).
//
// Every path handed in is absolute. The real implementation never follows a symbolic link at the
// last component of a path it reads, writes or removes, creates directories 0700 and files 0600,
// and refuses a directory or file that is not owned by the effective user or is open to others:
// records are root's alone.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "nftpm/error.h"

namespace nftpm {

struct FileInfo {
  enum class Kind { kMissing, kFile, kDir, kSymlink, kOther };
  Kind kind = Kind::kMissing;
  uid_t uid = 0;
  mode_t mode = 0;  // permission bits only
};

// Held while alive; released (also by the process's death) when destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class StateFileSystem {
 public:
  virtual ~StateFileSystem() = default;
  // Creates `dir` and its missing parents (0700). An existing `dir` must be a directory (not a
  // link to one) owned by us and closed to group and others; parents are not checked.
  virtual Status make_private_dir(const std::string& dir) = 0;
  // lstat(): a link is reported as a link.
  virtual Result<FileInfo> stat(const std::string& path) = 0;
  // The contents of a regular file; a link, a file not ours or open to others is refused.
  virtual Result<std::string> read(const std::string& path) = 0;
  // Replaces `path` atomically: a temporary file beside it (0600) written, then renamed over
  // `path` (a link there is replaced, never followed). Nothing is fsynced: a record lives only as
  // long as the boot that wrote it (see real_state_fs.cc).
  virtual Status write_atomic(const std::string& path, const std::string& text) = 0;
  // rename(2) within one directory.
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  // unlink(2) (a link itself, never its target); a missing path is success.
  virtual Status remove(const std::string& path) = 0;
  // Removes a directory and everything in it without following links; missing is success.
  virtual Status remove_tree(const std::string& dir) = 0;
  // The names in `dir` (no "." or ".."); a missing directory is empty.
  virtual Result<std::vector<std::string>> list(const std::string& dir) = 0;
  // An advisory lock (flock) on `path`, created 0600 if missing: shared for plugin calls,
  // exclusive for restore. Waits at most `timeout_ms`, then fails with kTryAgainLater.
  virtual Result<std::unique_ptr<FileLock>> lock(const std::string& path, bool exclusive, int timeout_ms) = 0;
};

// The real file system.
std::unique_ptr<StateFileSystem> real_state_fs();

}  // namespace nftpm
