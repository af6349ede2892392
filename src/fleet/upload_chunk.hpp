#pragma once

#include "fleet/task.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fleet {

/// Part of an upload chunk as one row of `upload_chunks`: its tasks as a JSON array of
/// [id, type, data (as a string), priority], so that the seal reads them with json_each.
struct upload_part {
  int64_t offset = 0; ///< position of the part's first task within the chunk
  int64_t tasks = 0;
  std::string body;
};

/// Encodes a validated chunk (ids, types and data are valid UTF-8). A part ends once its body
/// passes `max_body_bytes`, which keeps every row far below SQLite's length limit; a chunk of
/// small tasks is one part.
std::vector<upload_part> encode_upload_chunk(const std::vector<task>& tasks,
                                             size_t max_body_bytes = size_t{16} << 20);

} // namespace fleet
