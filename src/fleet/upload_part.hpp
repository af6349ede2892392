#pragma once

#include "fleetd/task.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fleet {

/// Part of an upload chunk as one row of `upload_parts`. Its body is binary, read by the seal
/// through the table-valued function `upload_rows` (fleet/upload_rows.hpp):
///   "FUP3", then per task: u32 id length, id, u32 type length, type, u32 data length, data,
///   i32 priority, i64 run_at, i64 delay_ms, u32 count of extensions, each u8 tag, u32 length,
///   bytes (every integer little-endian). Extensions carry what most tasks do not have, so that
///   a new field needs a tag rather than a new format: tag 1, the task's policy (i64 timeout_ms,
///   i32 max_retries, i64 backoff_ms, i32 retry); tag 2, the ids it runs after (u32 count, then
///   each as u32 length and bytes); tag 3, its queue; tag 4, its group (each the bytes of a
///   non-empty name). A reader refuses a tag it does not know.
/// "FUP2" (without extensions) and "FUP1" parts (without the two times either), staged by older
/// fleetd versions, are still read.

/// It costs the seal about half of what extracting the fields from a JSON array did.
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

/// One task of a part's body; the views point into the body.
struct staged_task {
  std::string_view id;
  std::string_view type;
  std::string_view data;
  int32_t priority = 0;
  int64_t run_at = 0;
  int64_t delay_ms = 0;
  task_policy policy{};
  std::string after_json; ///< the ids it runs after as a JSON array, empty if none
  std::string_view queue;  ///< empty: the default queue
  std::string_view group;  ///< empty: none
};

/// Reads a part's body task by task, checking every length against the end of the body.
class upload_part_reader {
public:
  explicit upload_part_reader(std::string_view body);

  /// The next task in `out`: false at the end of the body, or when it is damaged.
  bool next(staged_task& out);

  /// Whether reading stopped at a damaged body rather than at its end.
  bool damaged() const { return damaged_; }

private:
  std::string_view rest_;
  int version_ = 3;
  bool damaged_ = false;
};

/// The error for a staged part that cannot be read as stored: "a staged upload part is damaged:
/// <why>" (errc::database_error), from the seal whichever layer finds it.
caf::error damaged_part_error(std::string_view why);

} // namespace fleet
