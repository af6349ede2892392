#pragma once

// The status page's batch view (GET /api/batches/ID/tasks) on PostgreSQL: the page that
// read_batch_tasks reads from the SQLite file, from the same rows.

#include "fleet/batch_tasks.hpp"
#include "fleet/pg.hpp"

#include <caf/expected.hpp>

#include <mutex>
#include <optional>
#include <string>

namespace fleet {

/// Reads pages of a batch's tasks on one read-only session of its own, opened at the first read
/// and opened again when the server ended it; the HTTP threads take turns on it. Thread-safe.
class pg_batch_tasks {
public:
  explicit pg_batch_tasks(std::string conninfo) : conninfo_(std::move(conninfo)) {}

  /// As read_batch_tasks: tasks of `batch_id` after `cursor`, at most `limit`, with their attempts,
  /// both read in one snapshot.
  caf::expected<task_rows_page> read(const std::string& batch_id, int64_t cursor, int64_t limit);

private:
  caf::expected<task_rows_page> read_in(pg::connection& db, const std::string& batch_id, int64_t cursor,
                                        int64_t limit);

  std::string conninfo_;
  std::mutex mutex_;
  std::optional<pg::connection> db_;
};

} // namespace fleet
