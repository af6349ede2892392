// Queues: the reads of one queue's and one group's runnable tasks, and the rare runtime changes
// of a queue's limits (prepared when used).

#include "fleet/store.hpp"
#include "fleet/store_internal.hpp"
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
  std::vector<runnable_task> out;
  auto read = [&](sqlite::statement& st) {
    return st.each_row([&] {
      runnable_task r;
      read_runnable_row(st, r);
      out.push_back(std::move(r));
    });
  };
  auto left = [&] { return static_cast<int64_t>(limit - out.size()); };
  if (from.priority < up_to.priority || (from.priority == up_to.priority && from.seq > up_to.seq))
    return out; // `from` comes after `up_to`
  constexpr auto last_seq = std::numeric_limits<int64_t>::max();
  // In run order: the rest of `from`'s priority, the priorities in between, then `up_to`'s up to it.
  auto& at = reads_->group_runnable_at;
  at.rebind(left(), queue, group, from.priority, from.seq, from.priority == up_to.priority ? up_to.seq : last_seq);
  if (auto err = read(at))
    return err;
  if (from.priority == up_to.priority || out.size() >= limit)
    return out;
  auto& between = reads_->group_runnable_between;
  between.rebind(left(), queue, group, from.priority, up_to.priority);
  if (auto err = read(between))
    return err;
  if (out.size() >= limit)
    return out;
  at.rebind(left(), queue, group, up_to.priority, int64_t{0}, up_to.seq);
  if (auto err = read(at))
    return err;
  return out;
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
  auto set = nlohmann::json::object();
  if (change.max_workers >= 0)
    set["max_workers"] = change.max_workers;
  if (change.rate_count >= 0)
    set["rate"] = rate_text(change.rate_count, change.rate_interval_ms);
  if (change.weight >= 0)
    set["weight"] = change.weight;
  if (change.group_max_workers >= 0)
    set["group_max_workers"] = change.group_max_workers;
  if (change.paused >= 0)
    set["paused"] = change.paused == 1;
  nlohmann::json detail{{"queue", name}, {"set", set}, {"limits", to_json(in_force)}};
  return log_event(now, event_kind::queue_changed, {}, {}, dump_json(detail));
}

} // namespace fleet
