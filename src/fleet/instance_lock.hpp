#pragma once

#include <caf/expected.hpp>

#include <string>

namespace fleet {

/// Keeps a second fleetd off a database that one already runs on: an exclusive flock on
/// `<db>.lock`, held until destruction (or process death, so kill -9 never leaves it stale).
/// Two managers on one file would each take the other's running attempts for interrupted ones.
class instance_lock {
public:
  static caf::expected<instance_lock> acquire(const std::string& db_path);

  instance_lock(instance_lock&& other) noexcept;
  instance_lock& operator=(instance_lock&&) = delete;
  instance_lock(const instance_lock&) = delete;
  ~instance_lock();

private:
  explicit instance_lock(int fd) : fd_(fd) {}
  int fd_;
};

} // namespace fleet
