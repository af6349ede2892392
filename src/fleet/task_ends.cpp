#include "fleet/task_ends.hpp"

#include "fleetd/error.hpp"
#include "fleet/store_plans.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <string>

namespace fleet {

namespace {

constexpr const char* function_name = "fleet_task_end";

void task_end_value(sqlite3_context* out, int, sqlite3_value** args) {
  auto* writer = static_cast<task_end_writer*>(sqlite3_user_data(out));
  writer->value_of(sqlite3_value_int64(args[0]), sqlite3_value_int(args[1]), out);
}

// Each row's values come from fleet_task_end(seq, field). No RETURNING: SQLite buffers returned
// rows in an ephemeral table opened and closed per execution, a quarter of the writer's
// instructions on a no-op run (docs/BENCHMARKS.md, 2026-12-06 05:05).
std::string update_sql(size_t n) {
  std::string sql = "UPDATE tasks SET state = fleet_task_end(seq, 0), result = fleet_task_end(seq, 1),"
                    " error = fleet_task_end(seq, 2), not_before = fleet_task_end(seq, 3),"
                    " finished_at = fleet_task_end(seq, 4), duration_ms = fleet_task_end(seq, 5),"
                    " interruptions = interruptions + fleet_task_end(seq, 6),"
                    " attempts = max(attempts, fleet_task_end(seq, 7)),"
                    " started_at = coalesce(started_at, fleet_task_end(seq, 8)),"
                    " orphaned_attempts = orphaned_attempts + fleet_task_end(seq, 9) WHERE seq IN (";
  for (size_t i = 0; i < n; ++i)
    sql += fmt::format("{}?{}", i == 0 ? "" : ", ", i + 1);
  return sql + ")";
}

caf::error check_size(size_t n) {
  if (n == 0 || n > task_end_writer::max_rows)
    return caf::make_error(errc::invalid_argument,
                           fmt::format("{} task ends for one write (1 to {})", n, task_end_writer::max_rows));
  return caf::none;
}

void result_text(sqlite3_context* out, const std::string& text) {
  // The rows outlive the statement that reads them.
  sqlite3_result_text64(out, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
}

} // namespace

caf::expected<std::unique_ptr<task_end_writer>> task_end_writer::make(sqlite::database& db) {
  auto writer = std::unique_ptr<task_end_writer>(new task_end_writer(db));
  auto rc = sqlite3_create_function_v2(db.handle(), function_name, 2, SQLITE_UTF8 | SQLITE_DIRECTONLY, writer.get(),
                                       task_end_value, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK)
    return caf::make_error(errc::database_error,
                           fmt::format("cannot register {}: {}", function_name, sqlite3_errmsg(db.handle())));
  return writer;
}

task_end_writer::~task_end_writer() {
  for (auto& st : updates_)
    st.reset();
  sqlite3_create_function_v2(db_.handle(), function_name, 2, SQLITE_UTF8, nullptr, nullptr, nullptr, nullptr, nullptr);
}

caf::expected<sqlite::statement*> task_end_writer::update_for(size_t n) {
  auto& st = updates_.at(n);
  if (!st) {
    auto made = db_.prepare(update_sql(n));
    if (!made)
      return made.error();
    st = std::move(*made);
  }
  return &*st;
}

caf::error task_end_writer::write(std::span<const row> rows) {
  if (auto err = check_size(rows.size()))
    return err;
  auto update = update_for(rows.size());
  if (!update)
    return update.error();
  auto& upd = **update;
  int p = 0;
  for (const auto& r : rows)
    upd.bind(++p, r.end->seq);
  rows_ = rows;
  hint_ = 0;
  auto err = upd.run();
  rows_ = {};
  return err;
}

const task_end_writer::row* task_end_writer::find(int64_t seq) {
  if (hint_ < rows_.size() && rows_[hint_].end->seq == seq)
    return &rows_[hint_];
  for (size_t i = 0; i < rows_.size(); ++i)
    if (rows_[i].end->seq == seq) {
      hint_ = i;
      return &rows_[i];
    }
  return nullptr;
}

void task_end_writer::value_of(int64_t seq, int field, sqlite3_context* out) {
  const auto* r = find(seq);
  if (r == nullptr) {
    sqlite3_result_error(out, "fleet_task_end: no attempt end is being written for this task", -1);
    return;
  }
  const auto& end = *r->end;
  auto terminal = is_terminal(end.next);
  switch (field) {
    case 0:
      sqlite3_result_text(out, task_state_after(end.next), -1, SQLITE_STATIC);
      return;
    case 1:
      if (end.next == task_disposition::succeeded)
        result_text(out, end.result);
      else
        sqlite3_result_null(out);
      return;
    case 2:
      if (end.error.empty())
        sqlite3_result_null(out);
      else
        result_text(out, end.error);
      return;
    case 3:
      sqlite3_result_int64(out, next_not_before(end));
      return;
    case 4:
      if (terminal)
        sqlite3_result_int64(out, end.at);
      else
        sqlite3_result_null(out);
      return;
    case 5:
      if (terminal)
        sqlite3_result_int64(out, end.duration_ms);
      else
        sqlite3_result_null(out);
      return;
    case 6:
      sqlite3_result_int64(out, end.outcome == attempt_outcome::interrupted ? 1 : 0);
      return;
    case 7:
      sqlite3_result_int64(out, end.attempt);
      return;
    case 8:
      if (r->start != nullptr)
        sqlite3_result_int64(out, r->start->at);
      else
        sqlite3_result_null(out);
      return;
    case 9:
      sqlite3_result_int64(out, end.orphaned ? 1 : 0);
      return;
    default:
      sqlite3_result_error(out, "fleet_task_end: no such field", -1);
  }
}

} // namespace fleet
