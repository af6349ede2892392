// Queues: the reads of one queue's and one group's runnable tasks, and the rare runtime changes
// of a queue's limits (prepared when used).

#include "fleet/sqlite_store.hpp"
#include "fleet/store.hpp"
#include "fleet/store_internal.hpp"
#include "fleet/store_rows.hpp"
#include "fleet/store_sql.hpp"

#include "fleet/json_text.hpp"
#include "fleet/queue_settings.hpp"

#include <nlohmann/json.hpp>

#include <limits>

namespace fleet {

using namespace store_detail;

caf::expected<std::vector<runnable_task>> sqlite_reader::runnable_of_group(const std::string& queue,
                                                                         const std::string& group, size_t limit,
                                                                         const run_position& from,
                                                                         const run_position& up_to) {
  auto read = [&](sqlite::statement& st) -> caf::expected<runnable_list> {
    runnable_list out;
    auto err = st.each_row([&] { out.push_back(read_runnable(sqlite_row{st})); });
    if (err)
      return err;
    return out;
  };
  auto at = [&](int32_t priority, int64_t first, int64_t last, int64_t n) {
    reads_->group_runnable_at.rebind(n, queue, group, priority, first, last);
    return read(reads_->group_runnable_at);
  };
  auto between = [&](int32_t above, int32_t below, int64_t n) {
    reads_->group_runnable_between.rebind(n, queue, group, above, below);
    return read(reads_->group_runnable_between);
  };
  return runnable_between(limit, from, up_to, at, between);
}

caf::expected<std::map<std::string, int64_t>> sqlite_reader::pending_by_queue() {
  auto st = db_.prepare(sql::pending_by_queue);
  if (!st)
    return st.error();
  std::map<std::string, int64_t> out;
  if (auto err = st->each_row([&] { out[st->column_text(0)] = st->column_int64(1); }))
    return err;
  return out;
}

caf::expected<std::vector<std::string>> sqlite_reader::queues_with_unfinished_tasks() {
  auto st = db_.prepare(sql::queues_with_unfinished_tasks);
  if (!st)
    return st.error();
  std::vector<std::string> out;
  if (auto err = st->each_row([&] { out.push_back(st->column_text(0)); }))
    return err;
  return out;
}

caf::expected<std::map<std::string, queue_change>> sqlite_reader::stored_queues() {
  auto st = db_.prepare(sql::stored_queues);
  if (!st)
    return st.error();
  std::map<std::string, queue_change> out;
  if (auto err = st->each_row([&] {
        queue_change c;
        c.max_workers = static_cast<int32_t>(st->column_int64(1));
        c.rate_count = static_cast<int32_t>(st->column_int64(2));
        c.rate_interval_ms = st->column_int64(3);
        c.weight = static_cast<int32_t>(st->column_int64(4));
        c.group_max_workers = static_cast<int32_t>(st->column_int64(5));
        c.paused = static_cast<int8_t>(st->column_int64(6));
        out[st->column_text(0)] = c;
      }))
    return err;
  return out;
}

caf::error sqlite_store::set_queue(const std::string& name, const queue_change& change, const queue_limits& in_force,
                                  int64_t now) {
  auto st = db_.prepare(sql::set_queue);
  if (!st)
    return st.error();
  if (auto err = st->execute(name, change.max_workers, change.rate_count, change.rate_interval_ms, change.weight,
                             change.group_max_workers, static_cast<int32_t>(change.paused), now))
    return err;
  auto detail = queue_changed_detail(name, change, in_force);
  return log_event(now, event_kind::queue_changed, {}, {}, dump_json(detail));
}

} // namespace fleet
