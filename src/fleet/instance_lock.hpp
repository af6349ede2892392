#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <string>

namespace fleet {

/// Keeps a second fleetd off a database that one already runs on: an exclusive flock on the
/// database file itself, held until destruction (or process death, so kill -9 never leaves it
/// stale). Every name of the file (a symlink, a hard link, `dir/./fleet.db`) reaches the same
/// lock. Two managers on one file would each take the other's running attempts for interrupted
/// ones and run them twice.
///
/// The flock lives in its own lock space (Linux): SQLite's POSIX byte-range locks on the same
/// file are not affected. The descriptor stays open until SQLite has closed the file, because
/// closing any descriptor of a file drops the process's POSIX locks on it.
class instance_lock {
public:
  /// What acquiring found out about the file, before SQLite opened it.
  struct file_state {
    bool created = false;  ///< there was no file: a new database
    bool was_empty = false; ///< the file existed with 0 bytes
    uint64_t links = 1;    ///< hard links to the file
    int64_t size = 0;      ///< bytes
  };

  /// Opens (or creates) the database file for writing and locks it. Fails with a sentence that
  /// says what to do when the file or its directory cannot be written, when SQLite's side files
  /// (`-wal`, `-shm`) cannot be, or when another process holds the lock (naming its pid).
  static caf::expected<instance_lock> acquire(const std::string& db_path);

  instance_lock(instance_lock&& other) noexcept;
  instance_lock& operator=(instance_lock&&) = delete;
  instance_lock(const instance_lock&) = delete;
  ~instance_lock();

  const file_state& state() const { return state_; }

private:
  instance_lock(int fd, file_state state) : fd_(fd), state_(state) {}
  int fd_;
  file_state state_;
};

} // namespace fleet
