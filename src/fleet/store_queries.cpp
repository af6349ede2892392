#include "fleet/sqlite_store.hpp"
#include "fleet/store.hpp"
#include "fleet/store_internal.hpp"
#include "fleet/store_rows.hpp"

#include "fleetd/error.hpp"
#include "fleet/json_text.hpp"
#include "fleet/validation.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace fleet {

using namespace store_detail;

caf::expected<dead_letter_page> sqlite_reader::dead_letters(const std::string& batch_id, int64_t cursor,
                                                          int64_t limit) {
  auto& st = reads_->dead_letters;
  st.rebind(cursor, batch_id, limit);
  dead_letter_page out;
  out.next_cursor = cursor;
  auto read = st.each_row([&] {
    out.next_cursor = st.column_int64(0);
    out.items.push_back(read_dead_letter(sqlite_row{st}));
  });
  if (read)
    return read;
  out.done = static_cast<int64_t>(out.items.size()) < limit;
  return out;
}

caf::expected<batch_status> sqlite_reader::status(const std::string& batch_id) {
  auto& st = reads_->batch_row;
  st.rebind(batch_id);
  if (auto err = step_to_row(st, unknown_batch(batch_id)))
    return err;
  auto out = read_batch_status(sqlite_row{st}, batch_id);
  st.reset();
  if (out.finished_at == 0) {
    // Through tasks_blocked_by_batch: one seek for a batch without dependencies.
    auto& blocked = reads_->count_blocked;
    blocked.rebind(batch_id);
    if (auto err = step_to_row(blocked, caf::make_error(errc::database_error, "count(*) gave no row")))
      return err;
    out.blocked = blocked.column_int64(0);
    blocked.reset();
  }
  if (out.scheduled > 0) {
    auto& next = reads_->batch_next_scheduled;
    next.rebind(batch_id);
    if (auto err = step_to_row(next, caf::make_error(errc::database_error, "min() gave no row")))
      return err;
    out.next_run_at = next.column_int64(0);
    next.reset();
  }
  return out;
}

caf::expected<std::vector<batch_status>> sqlite_reader::recent_batches(int64_t limit) {
  auto& st = reads_->recent_batches;
  st.rebind(limit);
  std::vector<batch_status> out;
  if (auto err = st.each_row([&] { out.push_back(read_batch_status(sqlite_row{st}, st.column_text(11))); }))
    return err;
  return out;
}

caf::expected<std::vector<dead_letter>> sqlite_reader::recent_failures(int64_t limit) {
  auto& st = reads_->recent_failures;
  st.rebind(limit);
  std::vector<dead_letter> out;
  if (auto err = st.each_row([&] { out.push_back(read_dead_letter(sqlite_row{st})); }))
    return err;
  return out;
}

caf::expected<sqlite_reader::batch_range_row> sqlite_reader::read_batch_range(const std::string& batch_id) {
  auto& st = reads_->batch_range;
  st.rebind(batch_id);
  if (auto err = step_to_row(st, unknown_batch(batch_id)))
    return err;
  batch_range_row out{st.column_int64(0), st.column_int64(1), st.column_int64(2)};
  st.reset();
  return out;
}

caf::expected<results_page> sqlite_reader::results(const std::string& batch_id, int64_t cursor, int64_t limit,
                                                 size_t max_bytes) {
  auto range = read_batch_range(batch_id);
  if (!range)
    return range.error();
  auto& st = reads_->batch_results;
  st.rebind(batch_id, std::max(cursor, range->first_seq - 1), range->last_seq, limit);
  results_page_builder page{cursor, limit, max_bytes};
  bool full = false;
  auto read = st.each_row([&] {
    if (full)
      return;
    task_result r;
    r.task_id = st.column_text(1);
    r.success = st.column_text(2) == "succeeded";
    r.result = st.column_text(3);
    r.error = st.column_text(4);
    r.attempts = static_cast<int32_t>(st.column_int64(5));
    r.duration_ms = st.column_int64(6);
    full = !page.add(st.column_int64(0), std::move(r));
  });
  if (read)
    return read;
  return page.finish();
}

caf::expected<task_page> sqlite_reader::task_rows(const std::string& batch_id, int64_t cursor, int64_t limit) {
  auto range = read_batch_range(batch_id);
  if (!range)
    return range.error();
  auto& st = reads_->batch_tasks;
  st.rebind(batch_id, std::max(cursor, range->first_seq - 1), range->last_seq, limit);
  task_page out;
  out.next_cursor = cursor;
  auto read = st.each_row([&] {
    task_entry node{st.column_text(1), st.column_text(2), static_cast<int32_t>(st.column_int64(3)),
                  st.column_is_null(4) ? -1.0 : st.column_double(4), st.column_text(5), {}};
    if (!st.column_is_null(6)) {
      auto after = nlohmann::json::parse(st.column_text(6), nullptr, false);
      for (const auto& id : after)
        if (id.is_string())
          node.after.push_back(id.get<std::string>());
    }
    out.next_cursor = st.column_int64(0);
    out.items.push_back(std::move(node));
  });
  if (read)
    return read;
  out.done = static_cast<int64_t>(out.items.size()) < limit;
  return out;
}

caf::expected<int64_t> sqlite_reader::finished_count(const std::string& batch_id) {
  auto range = read_batch_range(batch_id);
  if (!range)
    return range.error();
  return range->finished;
}

caf::expected<int64_t> sqlite_reader::first_seq(const std::string& batch_id) {
  auto range = read_batch_range(batch_id);
  if (!range)
    return range.error();
  return range->first_seq;
}

caf::expected<store_totals> sqlite_reader::totals() {
  auto& st = reads_->totals;
  st.rebind();
  auto row = st.step();
  if (!row)
    return row.error();
  store_totals out{st.column_int64(0), st.column_int64(1), st.column_int64(2), st.column_int64(3),
                   st.column_int64(4), st.column_int64(5), st.column_int64(6), st.column_int64(7)};
  st.reset();
  return out;
}

caf::expected<fleet_stats> sqlite_reader::stats() {
  auto sums = totals();
  if (!sums)
    return sums.error();
  auto& rc = reads_->running_count;
  rc.rebind();
  auto running = rc.step();
  if (!running)
    return running.error();
  auto out = to_stats(*sums, rc.column_int64(0));
  rc.reset();
  return out;
}

} // namespace fleet
