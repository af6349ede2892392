#include "fleet/instance_lock.hpp"

#include "fleetd/error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace fleet {

namespace {

caf::error db_error(std::string text) {
  return caf::make_error(errc::already_running, std::move(text));
}

std::string this_user() {
  return fmt::format("user {}", ::geteuid());
}

bool writable(const std::string& path) {
  return ::faccessat(AT_FDCWD, path.c_str(), W_OK, AT_EACCESS) == 0;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

/// The process holding a flock on the file (dev, ino), read from /proc/locks; 0 if not found.
long flock_holder(dev_t dev, ino_t ino) {
  std::ifstream locks{"/proc/locks"};
  auto key = fmt::format("{:02x}:{:02x}:{}", major(dev), minor(dev), ino);
  std::string line;
  while (std::getline(locks, line)) {
    // "3: FLOCK  ADVISORY  WRITE 28716 08:01:1234567 0 EOF"; waiters read "3: -> FLOCK ...".
    std::istringstream in{line};
    std::string number, kind, mode, access, file;
    long pid = 0;
    if (in >> number >> kind >> mode >> access >> pid >> file && kind == "FLOCK" && file == key)
      return pid;
  }
  return 0;
}

/// SQLite opens `-wal` and `-shm` beside the database; one left behind that this user cannot
/// write (by a run as another user, or made read-only) makes it fail with an obscure message.
caf::error check_side_files(const std::string& db_path) {
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    auto path = db_path + suffix;
    if (exists(path) && !writable(path))
      return db_error(fmt::format("{} exists but is not writable for {}: SQLite must write it. It may be left "
                                  "from a run as another user: delete it while no fleetd runs, or give it "
                                  "to the user that runs fleetd",
                                  path, this_user()));
  }
  auto parent = std::filesystem::path(db_path).parent_path();
  auto dir = parent.empty() ? std::filesystem::path{"."} : parent;
  if (!writable(dir.string()))
    return db_error(fmt::format("the database directory {} is not writable for {}: SQLite keeps its journal "
                                "files beside the database",
                                dir.string(), this_user()));
  return caf::none;
}

} // namespace

caf::expected<instance_lock> instance_lock::acquire(const std::string& db_path) {
  if (auto err = check_side_files(db_path))
    return err;
  file_state state;
  int fd = ::open(db_path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    fd = ::open(db_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    state.created = fd >= 0;
    if (fd < 0 && errno == EEXIST) // created by someone else meanwhile
      fd = ::open(db_path.c_str(), O_RDWR | O_CLOEXEC);
  }
  if (fd < 0) {
    auto code = errno;
    if (code == EACCES || code == EROFS || code == EPERM)
      return db_error(fmt::format("database {} is read-only for {} ({}): fleetd must write it. Make it "
                                  "writable (chmod u+w), or run fleetd as its owner",
                                  db_path, this_user(), std::strerror(code)));
    return db_error(fmt::format("cannot open database {}: {}", db_path, std::strerror(code)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return db_error(fmt::format("database {} is not a regular file", db_path));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    auto code = errno;
    ::close(fd);
    if (code != EWOULDBLOCK)
      return db_error(fmt::format("cannot lock database {}: {}", db_path, std::strerror(code)));
    auto holder = flock_holder(st.st_dev, st.st_ino);
    if (holder > 0)
      return db_error(fmt::format("another fleetd (pid {}) is running on {}", holder, db_path));
    return db_error(fmt::format("another process holds the lock on {}: is a fleetd running on it (perhaps "
                                "under another name of the file)?",
                                db_path));
  }
  state.was_empty = !state.created && st.st_size == 0;
  state.links = static_cast<uint64_t>(st.st_nlink);
  state.size = static_cast<int64_t>(st.st_size);
  return instance_lock{fd, state};
}

instance_lock::instance_lock(instance_lock&& other) noexcept : fd_(other.fd_), state_(other.state_) {
  other.fd_ = -1;
}

instance_lock::~instance_lock() {
  if (fd_ >= 0)
    ::close(fd_); // releases the flock
}

} // namespace fleet
