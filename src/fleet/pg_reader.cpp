#include "fleet/pg_reader.hpp"

#include "fleet/pg_array.hpp"
#include "fleet/pg_cells.hpp"

#include "fleet/store_rows.hpp"
#include "fleet/store_sql.hpp"

#include "fleetd/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <utility>
#include <cstdlib>
#include <iterator>
#include <limits>

namespace fleet {

using pg::cells;

namespace {

/// LIMIT's parameter: none (NULL) for "all", where SQLite takes -1.
pg::param limit_param(int64_t limit) {
  return limit < 0 ? pg::param{} : pg::to_param(limit);
}

/// As SQLite's (store_sql.hpp) in PostgreSQL's dialect; jsonb holds at most 256 MiB.
const std::string dependency_rows_of_seq = " FROM task_deps x JOIN tasks d ON d.seq = x.after_seq WHERE x.task_seq = $1";
const std::string dependency_object = "SELECT coalesce(jsonb_object_agg(d.task_id, fleetd_json_or_text(d.result)), '{}')::text";
const std::string dependency_bytes = "SELECT coalesce(sum(octet_length(d.result)), 0)";
const std::string runnable_columns =
  "SELECT seq, batch_id, task_id, type, data, priority, attempts, interruptions, replay_base, not_before,"
  " orphaned_attempts, coalesce(p.timeout_ms, 0), coalesce(p.max_retries, -1), coalesce(p.backoff_ms, -1),"
  " coalesce(p.retry, -1), dependencies, queue, task_group,"
  " CASE WHEN dependencies > 0 AND (" + dependency_bytes + sql::dependency_rows_of_task + ") <= "
  + std::to_string(max_inline_dependency_bytes) + " THEN (" + dependency_object + sql::dependency_rows_of_task + ") END"
  " FROM tasks LEFT JOIN task_policies p ON p.task_seq = tasks.seq";
/// $1 the task's seq, $2 the most bytes to build an object of.
const std::string dependency_results_of_task = "SELECT bytes, CASE WHEN bytes <= $2 THEN (" + dependency_object
                                               + dependency_rows_of_seq + ") END FROM (" + dependency_bytes
                                               + " AS bytes" + dependency_rows_of_seq + ") s";
const std::string runnable_select = runnable_columns + " WHERE state = 'pending' AND paused = 0";

const std::string batch_columns = "total, succeeded, failed, cancelled, created_at, started_at, finished_at,"
                                  " cancelled_at, paused_at, scheduled, client_key";

/// Every row of `res` through `read` (a column layout of store_rows.hpp, or a lambda); the first
/// value that is not what the schema says is an error.
template <class Read>
auto read_rows(const pg::result& res, Read read)
  -> caf::expected<std::vector<decltype(read(std::declval<cells&>()))>> {
  std::vector<decltype(read(std::declval<cells&>()))> out;
  out.reserve(static_cast<size_t>(res.rows()));
  for (int r = 0; r < res.rows(); ++r) {
    cells c{res, r};
    auto x = read(c);
    if (c.error)
      return c.error;
    out.push_back(std::move(x));
  }
  return out;
}

} // namespace

pg_reader::pg_reader(pg::connection db) : db_(std::move(db)) {
}

pg_reader::~pg_reader() = default;

std::string pg_reader::file() const {
  return db_.where().text();
}

caf::expected<config_update> pg_reader::load_config_overrides() {
  auto rows = db_.prepared("SELECT name, value::text FROM config_overrides ORDER BY name");
  if (!rows)
    return rows.error();
  config_update out;
  for (int r = 0; r < rows->rows(); ++r) {
    auto name = std::string{rows->text(r, 0)};
    auto text = std::string{rows->text(r, 1)};
    config_value value;
    // NUMERIC keeps what was stored: a real has a point or an exponent, an integer has neither.
    cells c{*rows, r};
    if (text.find_first_of(".eE") == std::string::npos)
      value = c.i64(1);
    else
      value = c.real(1);
    if (c.error)
      return stored_setting_not_a_number(name);
    if (auto err = apply_stored_setting(out, name, value))
      return err;
  }
  return out;
}

caf::expected<int64_t> pg_reader::unfinished_batches() {
  return db_.prepared_int("SELECT count(*) FROM batches WHERE finished_at IS NULL");
}

caf::expected<int64_t> pg_reader::upload_size(const std::string& upload_id) {
  auto rows = db_.prepared("SELECT tasks FROM uploads WHERE id = $1", upload_id);
  if (!rows)
    return rows.error();
  if (rows->rows() == 0)
    return caf::make_error(errc::unknown_upload, fmt::format("upload {} not found", upload_id));
  return rows->int64(0, 0);
}

caf::expected<std::string> pg_reader::batch_for_key(const std::string& key) {
  auto rows = db_.prepared("SELECT id FROM batches WHERE client_key = $1", key);
  if (!rows)
    return rows.error();
  return rows->rows() == 0 ? std::string{} : std::string{rows->text(0, 0)};
}

caf::expected<bool> pg_reader::fleet_paused() {
  auto n = db_.prepared_int("SELECT count(*) FROM fleet_pause");
  if (!n)
    return n.error();
  return *n > 0;
}

caf::expected<dead_letter_page> pg_reader::dead_letters(const std::string& batch_id, int64_t cursor, int64_t limit) {
  auto rows = db_.prepared("SELECT seq, batch_id, task_id, type, attempts, error, finished_at FROM tasks"
                           " WHERE state = 'failed' AND seq > $1::bigint AND ($2::text = '' OR batch_id = $2::text)"
                           " ORDER BY seq LIMIT $3::bigint",
                           cursor, batch_id, limit_param(limit));
  if (!rows)
    return rows.error();
  dead_letter_page out;
  out.next_cursor = cursor;
  for (int r = 0; r < rows->rows(); ++r) {
    cells c{*rows, r};
    out.next_cursor = c.i64(0);
    out.items.push_back(read_dead_letter(c));
    if (c.error)
      return c.error;
  }
  out.done = static_cast<int64_t>(out.items.size()) < limit;
  return out;
}

caf::expected<std::vector<runnable_task>> pg_reader::runnable(const std::string& where,
                                                              std::vector<pg::param> params) {
  auto rows = db_.prepared_params(runnable_select + where, params);
  if (!rows)
    return rows.error();
  return read_rows(*rows, [](cells& c) { return read_runnable(c); });
}

caf::expected<dependency_results> pg_reader::dependency_results(int64_t seq, int64_t max_bytes) {
  auto rows = db_.prepared(dependency_results_of_task, pg::to_param(seq),
                           pg::to_param(std::min(max_bytes, max_dependency_object_bytes)));
  if (!rows)
    return rows.error();
  if (rows->rows() != 1)
    return caf::make_error(errc::database_error, fmt::format("no dependency results for task {}", seq));
  cells c{*rows, 0};
  fleet::dependency_results out;
  out.bytes = c.i64(0);
  if (!c.null(1))
    out.object = c.text(1);
  if (c.error)
    return c.error;
  return out;
}

caf::expected<std::vector<runnable_task>> pg_reader::running_tasks(const std::vector<int64_t>& seqs) {
  pg::array list;
  for (auto seq : seqs)
    list.add(seq);
  auto rows = db_.prepared(runnable_columns + " WHERE state = 'running' AND seq = ANY($1::bigint[]) ORDER BY seq",
                           pg::to_param(list));
  if (!rows)
    return rows.error();
  return read_rows(*rows, [](cells& c) { return read_runnable(c); });
}

caf::expected<std::vector<runnable_task>> pg_reader::next_runnable(const std::string& queue, size_t limit,
                                                                   const std::optional<run_position>& after) {
  if (!after)
    return runnable(" AND queue = $2::text ORDER BY priority DESC, seq LIMIT $1::bigint",
                    {pg::to_param(static_cast<int64_t>(limit)), pg::to_param(queue)});
  auto same = [&](int32_t priority, int64_t first, int64_t last, int64_t n) {
    return runnable(" AND queue = $2::text AND priority = $3::int AND seq BETWEEN $4::bigint AND $5::bigint"
                    " ORDER BY priority DESC, seq LIMIT $1::bigint",
                    {pg::to_param(n), pg::to_param(queue), pg::to_param(priority), pg::to_param(first),
                     pg::to_param(last)});
  };
  return runnable_after(limit, *after, same, [&](int32_t above, int32_t below, int64_t n) {
    return lower_priorities(queue, nullptr, above, below, n);
  });
}

caf::expected<std::vector<runnable_task>> pg_reader::lower_priorities(const std::string& queue,
                                                                      const std::string* group, int32_t above,
                                                                      int32_t below, int64_t limit) {
  std::vector<pg::param> params{pg::to_param(limit), pg::to_param(queue), pg::to_param(above), pg::to_param(below)};
  if (group != nullptr)
    params.push_back(pg::to_param(*group));
  return runnable(std::string{" AND queue = $2::text AND priority < $3::int AND priority > $4::int"}
                    + (group != nullptr ? " AND task_group = $5::text" : "")
                    + " ORDER BY priority DESC, seq LIMIT $1::bigint",
                  std::move(params));
}

caf::expected<std::vector<runnable_task>> pg_reader::runnable_of_group(const std::string& queue,
                                                                       const std::string& group, size_t limit,
                                                                       const run_position& from,
                                                                       const run_position& up_to) {
  auto at = [&](int32_t priority, int64_t first, int64_t last, int64_t n) {
    return runnable(" AND queue = $2::text AND task_group = $3::text AND priority = $4::int"
                    " AND seq BETWEEN $5::bigint AND $6::bigint ORDER BY priority DESC, seq LIMIT $1::bigint",
                    {pg::to_param(n), pg::to_param(queue), pg::to_param(group), pg::to_param(priority),
                     pg::to_param(first), pg::to_param(last)});
  };
  return runnable_between(limit, from, up_to, at, [&](int32_t above, int32_t below, int64_t n) {
    return lower_priorities(queue, &group, above, below, n);
  });
}

caf::expected<std::map<std::string, int64_t>> pg_reader::pending_by_queue() {
  auto rows = db_.prepared("SELECT queue, count(*) FROM tasks WHERE state = 'pending' AND paused = 0 GROUP BY queue");
  if (!rows)
    return rows.error();
  std::map<std::string, int64_t> out;
  for (int r = 0; r < rows->rows(); ++r) {
    cells c{*rows, r};
    out[c.text(0)] = c.i64(1);
    if (c.error)
      return c.error;
  }
  return out;
}

caf::expected<std::vector<std::string>> pg_reader::queues_with_unfinished_tasks() {
  auto rows = db_.prepared(sql::queues_with_unfinished_tasks);
  if (!rows)
    return rows.error();
  std::vector<std::string> out;
  for (int r = 0; r < rows->rows(); ++r) {
    cells c{*rows, r};
    out.push_back(c.text(0));
    if (c.error)
      return c.error;
  }
  return out;
}

caf::expected<std::map<std::string, queue_change>> pg_reader::stored_queues() {
  auto rows = db_.prepared("SELECT name, coalesce(max_workers, -1), coalesce(rate_count, -1),"
                           " coalesce(rate_interval_ms, -1), coalesce(weight, -1), coalesce(group_max_workers, -1),"
                           " coalesce(paused, -1) FROM queues ORDER BY name");
  if (!rows)
    return rows.error();
  std::map<std::string, queue_change> out;
  for (int r = 0; r < rows->rows(); ++r) {
    cells c{*rows, r};
    queue_change q;
    q.max_workers = c.i32(1);
    q.rate_count = c.i32(2);
    q.rate_interval_ms = c.i64(3);
    q.weight = c.i32(4);
    q.group_max_workers = c.i32(5);
    q.paused = static_cast<int8_t>(c.i64(6));
    if (c.error)
      return c.error;
    out[c.text(0)] = q;
  }
  return out;
}

caf::expected<caf::optional<int64_t>> pg_reader::next_due() {
  auto rows = db_.prepared("SELECT min(due) FROM (SELECT min(not_before) AS due FROM tasks WHERE state = 'retry_wait'"
                           " UNION ALL SELECT min(not_before) FROM tasks WHERE state = 'scheduled') AS waiting");
  if (!rows)
    return rows.error();
  caf::optional<int64_t> due;
  if (rows->rows() > 0 && !rows->is_null(0, 0)) {
    auto x = rows->int64(0, 0);
    if (!x)
      return x.error();
    due = *x;
  }
  return due;
}

caf::expected<batch_status> pg_reader::status(const std::string& batch_id) {
  auto rows = db_.prepared("SELECT " + batch_columns + " FROM batches WHERE id = $1", batch_id);
  if (!rows)
    return rows.error();
  if (rows->rows() == 0)
    return unknown_batch(batch_id);
  cells c{*rows, 0};
  auto out = read_batch_status(c, batch_id);
  if (c.error)
    return c.error;
  if (out.finished_at == 0) {
    auto blocked = db_.prepared_int("SELECT count(*) FROM tasks WHERE batch_id = $1 AND state = 'blocked'", batch_id);
    if (!blocked)
      return blocked.error();
    out.blocked = *blocked;
  }
  if (out.scheduled > 0) {
    auto next = db_.prepared_int("SELECT min(not_before) FROM tasks WHERE batch_id = $1 AND state = 'scheduled'",
                                 batch_id);
    if (!next)
      return next.error();
    out.next_run_at = *next;
  }
  return out;
}

caf::expected<std::string> pg_reader::task_state(const std::string& batch_id, const std::string& task_id) {
  auto rows = db_.prepared("SELECT state FROM tasks WHERE batch_id = $1 AND task_id = $2", batch_id, task_id);
  if (!rows)
    return rows.error();
  return rows->rows() == 0 ? std::string{} : std::string{rows->text(0, 0)};
}

caf::expected<std::vector<batch_status>> pg_reader::recent_batches(int64_t limit) {
  auto rows = db_.prepared("SELECT " + batch_columns + ", id FROM batches ORDER BY first_seq DESC LIMIT $1::bigint",
                           limit_param(limit));
  if (!rows)
    return rows.error();
  return read_rows(*rows, [](cells& c) { return read_batch_status(c, c.text(11)); });
}

caf::expected<std::vector<dead_letter>> pg_reader::recent_failures(int64_t limit) {
  // NULLS LAST: SQLite's order, where NULL is the smallest value.
  auto rows = db_.prepared("SELECT seq, batch_id, task_id, type, attempts, error, finished_at FROM tasks"
                           " WHERE state = 'failed' ORDER BY finished_at DESC NULLS LAST, seq DESC LIMIT $1::bigint",
                           limit_param(limit));
  if (!rows)
    return rows.error();
  return read_rows(*rows, [](cells& c) { return read_dead_letter(c); });
}

caf::expected<pg_reader::batch_range_row> pg_reader::read_batch_range(const std::string& batch_id) {
  auto rows = db_.prepared("SELECT first_seq, last_seq, succeeded + failed + cancelled FROM batches WHERE id = $1",
                           batch_id);
  if (!rows)
    return rows.error();
  if (rows->rows() == 0)
    return unknown_batch(batch_id);
  cells c{*rows, 0};
  batch_range_row out{c.i64(0), c.i64(1), c.i64(2)};
  if (c.error)
    return c.error;
  return out;
}

caf::expected<results_page> pg_reader::results(const std::string& batch_id, int64_t cursor, int64_t limit,
                                               size_t max_bytes) {
  auto range = read_batch_range(batch_id);
  if (!range)
    return range.error();
  auto rows = db_.prepared("SELECT seq, task_id, state, result, error, attempts, duration_ms FROM tasks"
                           " WHERE seq > $2::bigint AND seq <= $3::bigint AND batch_id = $1"
                           " AND state IN ('succeeded', 'failed', 'cancelled') ORDER BY seq LIMIT $4::bigint",
                           batch_id, std::max(cursor, range->first_seq - 1), range->last_seq, limit_param(limit));
  if (!rows)
    return rows.error();
  results_page_builder page{cursor, limit, max_bytes};
  for (int r = 0; r < rows->rows(); ++r) {
    cells c{*rows, r};
    task_result x;
    x.task_id = c.text(1);
    x.success = c.text(2) == "succeeded";
    x.result = c.text(3);
    x.error = c.text(4);
    x.attempts = c.i32(5);
    x.duration_ms = c.i64(6);
    auto seq = c.i64(0);
    if (c.error)
      return c.error;
    if (!page.add(seq, std::move(x)))
      break;
  }
  return page.finish();
}

caf::expected<task_page> pg_reader::task_rows(const std::string& batch_id, int64_t cursor, int64_t limit) {
  auto range = read_batch_range(batch_id);
  if (!range)
    return range.error();
  auto rows = db_.prepared("SELECT seq, task_id, state, attempts, progress, progress_note,"
                           " CASE WHEN dependencies > 0 THEN (SELECT json_agg(d.task_id ORDER BY x.after_seq)::text"
                           "  FROM task_deps x JOIN tasks d ON d.seq = x.after_seq WHERE x.task_seq = tasks.seq) END"
                           " FROM tasks WHERE seq > $2::bigint AND seq <= $3::bigint AND batch_id = $1"
                           " ORDER BY seq LIMIT $4::bigint",
                           batch_id, std::max(cursor, range->first_seq - 1), range->last_seq, limit_param(limit));
  if (!rows)
    return rows.error();
  task_page out;
  out.next_cursor = cursor;
  for (int r = 0; r < rows->rows(); ++r) {
    cells c{*rows, r};
    task_entry node{c.text(1), c.text(2), c.i32(3), c.null(4) ? -1.0 : c.real(4), c.text(5), {}};
    if (!c.null(6)) {
      auto after = nlohmann::json::parse(c.text(6), nullptr, false);
      for (const auto& id : after)
        if (id.is_string())
          node.after.push_back(id.get<std::string>());
    }
    out.next_cursor = c.i64(0);
    if (c.error)
      return c.error;
    out.items.push_back(std::move(node));
  }
  out.done = static_cast<int64_t>(out.items.size()) < limit;
  return out;
}

caf::expected<int64_t> pg_reader::finished_count(const std::string& batch_id) {
  auto range = read_batch_range(batch_id);
  if (!range)
    return range.error();
  return range->finished;
}

caf::expected<int64_t> pg_reader::first_seq(const std::string& batch_id) {
  auto range = read_batch_range(batch_id);
  if (!range)
    return range.error();
  return range->first_seq;
}

caf::expected<store_totals> pg_reader::totals() {
  auto rows = db_.prepared("SELECT batches, tasks, succeeded, failed, cancelled, retries, duration_ms, scheduled"
                           " FROM fleet_totals WHERE id = 1");
  if (!rows)
    return rows.error();
  if (rows->rows() == 0)
    return caf::make_error(errc::database_error, "the fleet_totals row is missing");
  cells c{*rows, 0};
  store_totals out{c.i64(0), c.i64(1), c.i64(2), c.i64(3), c.i64(4), c.i64(5), c.i64(6), c.i64(7)};
  if (c.error)
    return c.error;
  return out;
}

caf::expected<fleet_stats> pg_reader::stats() {
  auto sums = totals();
  if (!sums)
    return sums.error();
  auto running = db_.prepared_int("SELECT count(*) FROM tasks WHERE state = 'running'");
  if (!running)
    return running.error();
  return to_stats(*sums, *running);
}

caf::expected<std::optional<std::pair<std::string, int64_t>>> pg_reader::oldest_finished(int64_t before) {
  auto rows = db_.prepared("SELECT id, finished_at FROM batches WHERE finished_at < $1::bigint"
                           " ORDER BY finished_at, first_seq LIMIT 1",
                           before);
  if (!rows)
    return rows.error();
  if (rows->rows() == 0)
    return std::optional<std::pair<std::string, int64_t>>{};
  auto at = rows->int64(0, 1);
  if (!at)
    return at.error();
  return std::optional<std::pair<std::string, int64_t>>{std::pair{std::string{rows->text(0, 0)}, *at}};
}

caf::expected<std::vector<schedule_row>> pg_reader::select_schedules(const std::string* name) {
  auto sql = fmt::format("SELECT {} FROM schedules {} ORDER BY name", schedule_columns,
                         name != nullptr ? "WHERE name = $1" : "");
  auto rows = name != nullptr ? db_.prepared(sql, *name) : db_.prepared(sql);
  if (!rows)
    return rows.error();
  return read_rows(*rows, [](cells& c) { return read_schedule(c); });
}

caf::expected<std::vector<schedule_row>> pg_reader::schedules() {
  return select_schedules(nullptr);
}

caf::expected<std::optional<schedule_row>> pg_reader::schedule(const std::string& name) {
  auto rows = select_schedules(&name);
  if (!rows)
    return rows.error();
  if (rows->empty())
    return std::optional<schedule_row>{};
  return std::optional<schedule_row>{std::move(rows->front())};
}

} // namespace fleet
