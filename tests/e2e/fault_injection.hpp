#pragma once

// Faults the crash loop makes besides signals: fleetd's wall clock stepping, and its database
// becoming read-only under it.

#include "fleetd_process.hpp"

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <linux/fs.h>
#include <string>
#include <sys/ioctl.h>
#include <unistd.h>
#include <vector>

namespace fleet::test {

/// Steps fleetd's wall clock while it runs, and not the monotonic clock, the way `date -s` or an
/// NTP step does, without touching the machine's clock: Debian's libfaketime, preloaded into
/// fleetd, reads the offset from a file (again at most once a second).
class clock_stepper {
public:
  static constexpr const char* library = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

  /// Preloads libfaketime into `d`'s next starts, at offset 0; nothing if the library is missing.
  explicit clock_stepper(fleetd_process& d) : file_(dir_.file("offset")) {
    if (!std::filesystem::exists(library))
      return;
    available_ = true;
    step_to(0);
    d.set_env("LD_PRELOAD", library);
    d.set_env("FAKETIME_TIMESTAMP_FILE", file_);
    d.set_env("FAKETIME_CACHE_DURATION", "1");
    d.set_env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
  }

  bool available() const { return available_; }

  /// fleetd's clock reads `seconds` off the real one from now on (within a second).
  void step_to(int64_t seconds) {
    if (!available_)
      return;
    // Written aside and renamed: libfaketime never reads half a line.
    write_file(file_ + ".new", (seconds >= 0 ? "+" : "") + std::to_string(seconds) + "\n");
    std::filesystem::rename(file_ + ".new", file_);
    offset_ = seconds;
  }

  int64_t offset() const { return offset_; }

private:
  temp_dir dir_; // not fleetd's directory, which may be read-only when the clock steps
  std::string file_;
  bool available_ = false;
  int64_t offset_ = 0;
};

/// Makes fleetd's database directory, database file and WAL refuse every write, also through the
/// descriptors fleetd holds open, as a file system remounted read-only after an I/O error does:
/// the immutable attribute (root, on ext4, xfs or btrfs). Cleared when destroyed.
class read_only_switch {
public:
  explicit read_only_switch(const fleetd_process& d)
    : paths_{std::filesystem::path{d.db()}.parent_path().string(), d.db(), d.db() + "-wal"} {
    available_ = set_flag(paths_[0], true) && set_flag(paths_[0], false);
  }
  ~read_only_switch() { set(false); }
  read_only_switch(const read_only_switch&) = delete;
  read_only_switch& operator=(const read_only_switch&) = delete;

  bool available() const { return available_; }

  void set(bool read_only) {
    if (!available_ || read_only == on_)
      return;
    // Files first when turning on, the directory first when turning off; a missing WAL (between
    // runs) is skipped.
    if (read_only)
      for (auto i = paths_.rbegin(); i != paths_.rend(); ++i)
        set_flag(*i, true);
    else
      for (const auto& p : paths_)
        set_flag(p, false);
    on_ = read_only;
  }

private:
  static bool set_flag(const std::string& path, bool immutable) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
      return false;
    int flags = 0;
    bool ok = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
    if (ok) {
      flags = immutable ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
      ok = ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
    }
    ::close(fd);
    return ok;
  }

  std::vector<std::string> paths_;
  bool available_ = false;
  bool on_ = false;
};

} // namespace fleet::test
