#include "fleet/batch_tasks.hpp"

#include "fleetd/error.hpp"
#include "fleet/sqlite.hpp"
#include "fleet/store_internal.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace fleet {

caf::expected<task_rows_page> read_batch_tasks(const std::string& db_path, const std::string& batch_id,
                                               int64_t cursor, int64_t limit) {
  auto db = sqlite::database::open(db_path, false);
  if (!db)
    return db.error();
  if (auto err = db->exec("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;"))
    return err;
  auto range = db->prepare("SELECT first_seq, last_seq FROM batches WHERE id = ?1");
  if (!range)
    return range.error();
  range->rebind(batch_id);
  auto found = range->step();
  if (!found)
    return found.error();
  if (!*found)
    return caf::make_error(errc::unknown_batch, fmt::format("batch {} not found", batch_id));
  auto last = range->column_is_null(1) ? int64_t{0} : range->column_int64(1);
  auto first = range->column_is_null(0) ? int64_t{1} : range->column_int64(0);
  task_rows_page page;
  page.next_cursor = cursor;
  // The batch's seq range, walked in order (the tasks of one batch are inserted together).
  auto tasks = db->prepare("SELECT seq, task_id, type, priority, state, attempts, duration_ms, result, error,"
                           " progress, progress_note, CASE WHEN dependencies > 0 THEN"
                           " (SELECT json_group_array(d.task_id) FROM task_deps x JOIN tasks d ON d.seq = x.after_seq"
                           "  WHERE x.task_seq = tasks.seq) END"
                           " FROM tasks WHERE seq >= ?2 AND seq <= ?3 AND +batch_id = ?1 ORDER BY seq LIMIT ?4");
  if (!tasks)
    return tasks.error();
  tasks->rebind(batch_id, std::max(cursor + 1, first), last, limit);
  std::map<int64_t, size_t> index;
  auto err = tasks->each_row([&] {
    store_detail::sqlite_row row{*tasks};
    auto t = read_task_row(row);
    index[t.seq] = page.tasks.size();
    page.tasks.push_back(std::move(t));
  });
  if (err)
    return err;
  if (page.tasks.empty()) {
    page.done = true;
    return page;
  }
  page.next_cursor = page.tasks.back().seq;
  page.done = page.next_cursor >= last;
  auto attempts = db->prepare("SELECT task_seq, attempt, worker_id, coalesce(node, 'local'), started_at,"
                              " finished_at, outcome, error FROM attempts WHERE task_seq >= ?1 AND task_seq <= ?2"
                              " ORDER BY task_seq, attempt");
  if (!attempts)
    return attempts.error();
  attempts->rebind(page.tasks.front().seq, page.tasks.back().seq);
  err = attempts->each_row([&] {
    auto at = index.find(attempts->column_int64(0));
    if (at == index.end())
      return;
    store_detail::sqlite_row row{*attempts};
    auto a = read_attempt_row(row);
    page.tasks[at->second].attempt_rows.push_back(std::move(a));
  });
  if (err)
    return err;
  return page;
}

} // namespace fleet
