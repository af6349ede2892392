#include "fleet/shared_mapping.hpp"

#include "fleetd/error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

namespace fleet {

caf::expected<void*> map_shared_file(int fd, size_t size, size_t bytes, const std::string& what,
                                     const std::string& path) {
  auto failed = [&](const char* step) {
    auto err = caf::make_error(errc::database_error,
                               fmt::format("cannot {} the {} {}: {}", step, what, path, std::strerror(errno)));
    ::close(fd);
    return err;
  };
  if (size != bytes && ::ftruncate(fd, static_cast<off_t>(bytes)) != 0)
    return failed("size");
  auto map = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED)
    return failed("map");
  return map;
}

} // namespace fleet
