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

/// A task of the page from its row, columns in this order: seq, task_id, type, priority, state,
/// attempts, duration_ms, result, error, progress, progress_note, the ids it runs after (JSON).
/// `Row` reads one result row of either store (i64, i32, real, text, null).
template <class Row>
task_row read_task_row(Row& c) {
  task_row t;
  t.seq = c.i64(0);
  t.task_id = c.text(1);
  t.type = c.text(2);
  t.priority = c.i32(3);
  t.state = c.text(4);
  t.attempts = c.i32(5);
  t.duration_ms = c.null(6) ? -1 : c.i64(6);
  t.result = c.text(7); // empty when NULL
  t.error = c.text(8);
  t.progress = c.null(9) ? -1.0 : c.real(9);
  t.note = c.text(10);
  t.after_json = c.null(11) ? std::string{"[]"} : c.text(11);
  return t;
}

/// An attempt from its row, columns 1 to 7: attempt, worker_id, node ('local' for NULL),
/// started_at, finished_at, outcome, error (column 0 is its task's seq).
template <class Row>
attempt_row read_attempt_row(Row& c) {
  attempt_row a;
  a.attempt = c.i32(1);
  a.worker_id = c.text(2);
  a.node = c.text(3);
  a.started_at = c.i64(4);
  a.finished_at = c.null(5) ? 0 : c.i64(5);
  a.outcome = c.text(6);
  a.error = c.text(7);
  return a;
}

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
