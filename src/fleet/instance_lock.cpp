#include "fleet/instance_lock.hpp"

#include "fleet/error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/file.h>
#include <unistd.h>

namespace fleet {

caf::expected<instance_lock> instance_lock::acquire(const std::string& db_path) {
  auto path = db_path + ".lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return caf::make_error(errc::database_error,
                           fmt::format("cannot create {}: {}", path, std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    auto err = errno;
    char buf[32] = {};
    auto n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string{"?"};
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' '))
      holder.pop_back();
    if (err == EWOULDBLOCK)
      return caf::make_error(errc::database_error,
                             fmt::format("another fleetd (pid {}) is running on {}", holder, db_path));
    return caf::make_error(errc::database_error, fmt::format("cannot lock {}: {}", path, std::strerror(err)));
  }
  auto pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0)
    [[maybe_unused]] auto written = ::pwrite(fd, pid.data(), pid.size(), 0);
  return instance_lock{fd};
}

instance_lock::instance_lock(instance_lock&& other) noexcept : fd_(other.fd_) {
  other.fd_ = -1;
}

instance_lock::~instance_lock() {
  if (fd_ >= 0)
    ::close(fd_); // releases the flock
}

} // namespace fleet
