#pragma once

#include <caf/expected.hpp>

#include <cstddef>
#include <string>

namespace fleet {

/// Sizes the file open as `fd` (now `size` bytes) to `bytes` and maps all of it shared, for
/// writing: the journals beside the database (`<db>-starts`, `<db>-children`). On failure `fd` is
/// closed and the error reads "cannot size|map the `what` `path`: reason".
caf::expected<void*> map_shared_file(int fd, size_t size, size_t bytes, const std::string& what,
                                     const std::string& path);

} // namespace fleet
