#pragma once

// One page of a batch's tasks with each task's attempts, as committed: what the status page's
// batch view shows (GET /api/batches/ID/tasks). Read on a connection of its own, read-only, so the
// HTTP threads never wait for the manager or the writer.

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace fleet {

struct attempt_row {
  int32_t attempt = 0;
  std::string worker_id;
  std::string node; ///< "local" for fleetd's own workers
  int64_t started_at = 0;
  int64_t finished_at = 0; ///< 0 while it runs
  std::string outcome;     ///< empty while it runs
  std::string error;
};

struct task_row {
  int64_t seq = 0;
  std::string task_id;
  std::string type;
  int32_t priority = 0;
  std::string state;
  int32_t attempts = 0;
  int64_t duration_ms = -1; ///< -1: not finished
  std::string result;       ///< JSON as the worker wrote it; empty unless succeeded
  std::string error;
  std::vector<attempt_row> attempt_rows;
  double progress = -1; ///< the latest stored progress report, 0..1; -1: none
  std::string note;
  std::string after_json = "[]"; ///< the ids of the tasks it runs after, a JSON array
};

struct task_rows_page {
  std::vector<task_row> tasks;
  int64_t next_cursor = 0;
  bool done = false;
};

/// Tasks of `batch_id` after `cursor` (a seq; 0 at first), at most `limit`, in submission order.
/// errc::unknown_batch if there is no such batch.
caf::expected<task_rows_page> read_batch_tasks(const std::string& db_path, const std::string& batch_id,
                                               int64_t cursor, int64_t limit);

} // namespace fleet
