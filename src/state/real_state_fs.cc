// The state directory on the real file system: no link followed, nothing readable by others,
// every change durable before it is reported done.
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "nftpm/state_fs.h"

namespace nftpm {

namespace {

constexpr size_t kMaxRecordBytes = 4u << 20;

Error io_error(const std::string& what, const std::string& path, int err) {
  return Error(ErrorCode::kIoFailure, what + " " + path + ": " + std::strerror(err));
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// No write here is fsynced: a record is valid only in the boot that wrote it (its boot id is in
// its path and checked on every read), and within one boot the page cache is what every process
// reads, whatever crashes; only a crash of the kernel itself loses unsynced data, and that is a
// new boot, in which the record means nothing. The atomic rename is what makes a SIGKILL safe.
// (The fsyncs cost an ADD 0.75 ms on a disk stateDir, and eight syscalls on tmpfs.)

// Ours alone: owned by the effective user, nothing for group or others.
Status check_private(const struct stat& st, const std::string& path) {
  static const uid_t euid = geteuid();  // asked once a process, not at every path checked
  if (st.st_uid != euid) {
    return Error(ErrorCode::kIoFailure, path + " is owned by uid " + std::to_string(st.st_uid) + ", not by uid " +
                                            std::to_string(euid) + ": records are root's alone");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    return Error(ErrorCode::kIoFailure, path + " has mode " + mode +
                                            ": records are root's alone (0600 files in a "
                                            "0700 directory)");
  }
  return ok_status();
}

Status check_private_dir(const struct stat& st, const std::string& dir) {
  if (S_ISLNK(st.st_mode)) return Error(ErrorCode::kIoFailure, dir + " is a symbolic link, not a directory");
  if (!S_ISDIR(st.st_mode)) return Error(ErrorCode::kIoFailure, dir + " is not a directory");
  return check_private(st, dir);
}

class RealFileLock : public FileLock {
 public:
  explicit RealFileLock(int fd) : fd_(fd) {}
  ~RealFileLock() override { close(fd_); }

 private:
  int fd_;
};

class RealStateFileSystem : public StateFileSystem {
 public:
  Status make_private_dir(const std::string& dir) override {
    struct stat st {};
    // Almost always there already: one lstat, no mkdir.
    if (lstat(dir.c_str(), &st) == 0) return check_private_dir(st, dir);
    if (mkdir(dir.c_str(), 0700) != 0) {
      int err = errno;
      if (err == ENOENT) {
        // Missing parents are made as mkdir -p would (0755): only the state directory itself and
        // what is below it must be private.
        std::string parent = parent_of(dir);
        if (parent != dir) NFTPM_TRY(make_parents(parent));
        if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return io_error("cannot create", dir, errno);
      } else if (err != EEXIST) {
        return io_error("cannot create", dir, err);
      }
    }
    if (lstat(dir.c_str(), &st) != 0) return io_error("cannot read", dir, errno);
    return check_private_dir(st, dir);
  }

  Result<FileInfo> stat(const std::string& path) override {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return FileInfo{};
      return io_error("cannot read", path, errno);
    }
    FileInfo fi;
    fi.kind = S_ISREG(st.st_mode)   ? FileInfo::Kind::kFile
              : S_ISDIR(st.st_mode) ? FileInfo::Kind::kDir
              : S_ISLNK(st.st_mode) ? FileInfo::Kind::kSymlink
                                    : FileInfo::Kind::kOther;
    fi.uid = st.st_uid;
    fi.mode = st.st_mode & 07777;
    return fi;
  }

  Result<std::string> read(const std::string& path) override {
    // O_NONBLOCK: a FIFO planted where a record should be must not hang the reader.
    Fd fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (fd.get() < 0) {
      if (errno == ELOOP) return Error(ErrorCode::kIoFailure, path + " is a symbolic link, not a record");
      return io_error("cannot open", path, errno);
    }
    struct stat st {};
    if (fstat(fd.get(), &st) != 0) return io_error("cannot read", path, errno);
    if (!S_ISREG(st.st_mode)) return Error(ErrorCode::kIoFailure, path + " is not a regular file");
    NFTPM_TRY(check_private(st, path));
    if (static_cast<size_t>(st.st_size) > kMaxRecordBytes) {
      return Error(ErrorCode::kIoFailure, path + " is too large to be a record");
    }
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return io_error("cannot read", path, errno);
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
      if (out.size() > kMaxRecordBytes) return Error(ErrorCode::kIoFailure, path + " is too large to be a record");
    }
    return out;
  }

  Status write_atomic(const std::string& path, const std::string& text) override {
    std::string dir = parent_of(path);
    std::string tmp = dir + "/." + path.substr(dir.size() + 1) + ".tmp." + std::to_string(getpid());
    int raw = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (raw < 0 && errno == EEXIST) {
      // Left by a process of the same pid that died mid-write: ours to replace.
      unlink(tmp.c_str());
      raw = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    if (raw < 0) return io_error("cannot create", tmp, errno);
    {
      Fd fd(raw);
      size_t off = 0;
      while (off < text.size()) {
        ssize_t n = write(fd.get(), text.data() + off, text.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          int err = errno;
          unlink(tmp.c_str());
          return io_error("cannot write", tmp, err);
        }
        off += static_cast<size_t>(n);
      }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      int err = errno;
      unlink(tmp.c_str());
      return io_error("cannot rename a record to", path, err);
    }
    return ok_status();
  }

  Status rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return io_error("cannot rename", from, errno);
    return ok_status();
  }

  Status remove(const std::string& path) override {
    if (unlink(path.c_str()) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return ok_status();
      if (errno == EISDIR || errno == EPERM) {
        // A directory planted where a record should be.
        return remove_tree(path);
      }
      return io_error("cannot remove", path, errno);
    }
    return ok_status();
  }

  Status remove_tree(const std::string& dir) override {
    struct stat st {};
    if (lstat(dir.c_str(), &st) != 0) return errno == ENOENT ? ok_status() : io_error("cannot read", dir, errno);
    if (!S_ISDIR(st.st_mode)) {
      if (unlink(dir.c_str()) != 0 && errno != ENOENT) return io_error("cannot remove", dir, errno);
      return ok_status();
    }
    // FTW_PHYS: links are removed, never followed; FTW_DEPTH: contents before their directory.
    int rc = nftw(
        dir.c_str(),
        [](const char* p, const struct stat*, int type, struct FTW*) -> int {
          return (type == FTW_DP ? rmdir(p) : unlink(p)) == 0 || errno == ENOENT ? 0 : -1;
        },
        16, FTW_DEPTH | FTW_PHYS);
    if (rc != 0) return io_error("cannot remove", dir, errno);
    return ok_status();
  }

  Result<std::vector<std::string>> list(const std::string& dir) override {
    std::vector<std::string> out;
    int raw = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (raw < 0) {
      if (errno == ENOENT) return out;
      return io_error("cannot list", dir, errno);
    }
    DIR* d = fdopendir(raw);
    if (d == nullptr) {
      int err = errno;
      close(raw);
      return io_error("cannot list", dir, err);
    }
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(std::move(n));
    }
    closedir(d);
    return out;
  }

  Result<std::unique_ptr<FileLock>> lock(const std::string& path, bool exclusive, int timeout_ms) override {
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return io_error("cannot open the lock", path, errno);
    auto held = std::make_unique<RealFileLock>(fd);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    auto pause = std::chrono::microseconds(200);
    while (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) return io_error("cannot lock", path, errno);
      if (std::chrono::steady_clock::now() >= deadline) {
        return Error(ErrorCode::kTryAgainLater, "the state directory is locked by another process",
                     path + " stayed locked for " + std::to_string(timeout_ms / 1000) + " s (a restore?)");
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(20000));
    }
    return std::unique_ptr<FileLock>(std::move(held));
  }

 private:
  static Status make_parents(const std::string& dir) {
    if (mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) return ok_status();
    if (errno != ENOENT) return io_error("cannot create", dir, errno);
    std::string parent = parent_of(dir);
    if (parent != dir) NFTPM_TRY(make_parents(parent));
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return io_error("cannot create", dir, errno);
    return ok_status();
  }
};

}  // namespace

std::unique_ptr<StateFileSystem> real_state_fs() {
  return std::make_unique<RealStateFileSystem>();
}

}  // namespace nftpm
