#include "fleet/pg_batch_tasks.hpp"

#include "fleet/pg_cells.hpp"

#include "fleetd/error.hpp"

#include <fmt/format.h>

#include <map>

namespace fleet {

caf::expected<task_rows_page> pg_batch_tasks::read(const std::string& batch_id, int64_t cursor, int64_t limit) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (!db_) {
    auto opened = pg::connection::open_snapshot_reader(conninfo_);
    if (!opened)
      return opened.error();
    db_ = std::move(*opened);
  }
  pg::transaction tx{*db_};
  if (auto err = tx.begin())
    return err;
  auto page = read_in(*db_, batch_id, cursor, limit);
  if (!page)
    return page.error(); // the transaction rolls back
  if (auto err = tx.commit())
    return err;
  return page;
}

caf::expected<task_rows_page> pg_batch_tasks::read_in(pg::connection& db, const std::string& batch_id,
                                                      int64_t cursor, int64_t limit) {
  auto range = db.prepared("SELECT coalesce(first_seq, 1), coalesce(last_seq, 0) FROM batches WHERE id = $1",
                           batch_id);
  if (!range)
    return range.error();
  if (range->rows() == 0)
    return caf::make_error(errc::unknown_batch, fmt::format("batch {} not found", batch_id));
  auto first = range->integer(0, 0);
  auto last = range->integer(0, 1);
  task_rows_page page;
  page.next_cursor = cursor;
  // The batch's seq range, walked in order (the tasks of one batch are inserted together).
  auto tasks = db.prepared("SELECT seq, task_id, type, priority, state, attempts, duration_ms, result, error,"
                           " progress, progress_note, CASE WHEN dependencies > 0 THEN"
                           " (SELECT '[' || string_agg(to_json(d.task_id)::text, ',' ORDER BY x.after_seq) || ']'"
                           "  FROM task_deps x JOIN tasks d ON d.seq = x.after_seq WHERE x.task_seq = tasks.seq) END"
                           " FROM tasks WHERE seq >= $2::bigint AND seq <= $3::bigint AND batch_id = $1"
                           " ORDER BY seq LIMIT $4::bigint",
                           batch_id, std::max(cursor + 1, first), last, limit);
  if (!tasks)
    return tasks.error();
  std::map<int64_t, size_t> index;
  for (int row = 0; row < tasks->rows(); ++row) {
    pg::cells c{*tasks, row};
    auto t = read_task_row(c);
    if (c.error)
      return c.error;
    index[t.seq] = page.tasks.size();
    page.tasks.push_back(std::move(t));
  }
  if (page.tasks.empty()) {
    page.done = true;
    return page;
  }
  page.next_cursor = page.tasks.back().seq;
  page.done = page.next_cursor >= last;
  auto attempts = db.prepared("SELECT task_seq, attempt, worker_id, coalesce(node, 'local'), started_at,"
                              " finished_at, outcome, error FROM attempts"
                              " WHERE task_seq >= $1::bigint AND task_seq <= $2::bigint ORDER BY task_seq, attempt",
                              page.tasks.front().seq, page.tasks.back().seq);
  if (!attempts)
    return attempts.error();
  for (int row = 0; row < attempts->rows(); ++row) {
    pg::cells c{*attempts, row};
    auto at = index.find(c.i64(0));
    if (at == index.end())
      continue;
    auto a = read_attempt_row(c);
    if (c.error)
      return c.error;
    page.tasks[at->second].attempt_rows.push_back(std::move(a));
  }
  return page;
}

} // namespace fleet
