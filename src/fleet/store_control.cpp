#include "fleet/sqlite_store.hpp"
#include "fleet/store.hpp"
#include "fleet/store_internal.hpp"

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

caf::expected<std::string> sqlite_reader::task_state(const std::string& batch_id, const std::string& task_id) {
  auto& ts = reads_->task_state;
  ts.rebind(batch_id, task_id);
  auto row = ts.step();
  if (!row)
    return row.error();
  auto state = *row ? ts.column_text(0) : std::string{};
  ts.reset();
  return state;
}

caf::expected<int64_t> sqlite_store::replay(const std::string& batch_id, const std::vector<std::string>& task_ids,
                                           int64_t now) {
  if (auto err = check_replay(batch_id, task_ids))
    return err;
  auto range = read_batch_range(batch_id);
  if (!range)
    return range.error();
  auto edges = count_edges(range->first_seq, range->last_seq);
  if (!edges)
    return edges.error();
  if (*edges > 0) {
    auto replayed = replay_with_dependencies(batch_id, task_ids, now, *range);
    if (!replayed)
      return replayed.error();
    if (*replayed > 0)
      if (auto err = stmts_->reopen_batch.execute(batch_id, *replayed))
        return err;
    return replayed;
  }
  int64_t replayed = 0;
  auto replay_one = [&](const std::string& task_id) -> caf::error {
    if (auto err = stmts_->log_replayed.execute(batch_id, task_id, now, requester_))
      return err;
    if (auto err = stmts_->replay_tasks.execute(batch_id, task_id, now))
      return err;
    replayed += db_.changes();
    return caf::none;
  };
  if (task_ids.empty()) {
    if (auto err = replay_one({}))
      return err;
  } else {
    for (const auto& id : task_ids)
      if (auto err = replay_one(id))
        return err;
  }
  if (replayed > 0)
    if (auto err = stmts_->reopen_batch.execute(batch_id, replayed))
      return err;
  return replayed;
}

caf::expected<bool> sqlite_store::set_batch_paused(const std::string& batch_id, bool paused, int64_t now) {
  auto needed = check_pause(batch_id, paused);
  if (!needed || !*needed)
    return needed;
  if (auto err = stmts_->pause_tasks.execute(batch_id, paused))
    return err;
  auto& pb = stmts_->pause_batch;
  pb.rebind(batch_id);
  if (paused)
    pb.bind(2, now);
  else
    pb.bind(2, nullptr);
  if (auto err = pb.run())
    return err;
  if (auto err = log_event(now, paused ? event_kind::batch_paused : event_kind::batch_resumed, batch_id, {}, {}))
    return err;
  return true;
}

caf::expected<bool> sqlite_reader::fleet_paused() {
  auto& st = reads_->fleet_paused;
  st.rebind();
  auto row = st.step();
  if (!row)
    return row.error();
  auto paused = st.column_int64(0) > 0;
  st.reset();
  return paused;
}

caf::expected<bool> sqlite_store::set_fleet_paused(bool paused, int64_t now) {
  auto err = paused ? stmts_->pause_fleet.execute(now) : stmts_->resume_fleet.execute();
  if (err)
    return err;
  if (db_.changes() == 0)
    return false;
  if (auto err = log_event(now, paused ? event_kind::fleet_paused : event_kind::fleet_resumed, {}, {}, {}))
    return err;
  return true;
}

caf::expected<std::optional<sqlite_store::cancelled_batch>> sqlite_store::cancel_batch(const std::string& batch_id, int64_t now) {
  auto st = status(batch_id);
  if (!st) {
    if (st.error() == errc::unknown_batch)
      return std::nullopt;
    return st.error();
  }
  if (st->status == batch_state::cancelled || st->finished_at != 0)
    return std::nullopt;
  if (auto err = stmts_->log_cancelled.execute(batch_id, now, requester_))
    return err;
  if (auto err = stmts_->cancel_waiting.execute(batch_id, now))
    return err;
  auto n = db_.changes();
  if (auto err = stmts_->cancel_batch.execute(batch_id, n, now))
    return err;
  if (auto err = log_event(now, event_kind::batch_cancelled, batch_id, {},
                           dump_json({{"waiting_tasks_cancelled", n}})))
    return err;
  auto finished = finish_if_done(batch_id, now);
  if (!finished)
    return finished.error();
  return cancelled_batch{n, *finished};
}

caf::expected<sqlite_store::cancelled_batch> sqlite_store::cancel_tasks(const std::string& batch_id,
                                                                     const std::vector<std::string>& task_ids,
                                                                     int64_t now) {
  int64_t cancelled = 0;
  int64_t delayed = 0;
  int64_t skipped = 0;
  for (const auto& id : task_ids) {
    auto state = task_state(batch_id, id);
    if (!state)
      return state.error();
    if (!waits(*state))
      continue;
    if (auto err = log_event(now, event_kind::task_cancelled, batch_id, id, {}))
      return err;
    if (auto err = stmts_->cancel_task.execute(batch_id, id, *state, now))
      return err;
    cancelled += db_.changes();
    delayed += *state == "scheduled" ? db_.changes() : 0;
    auto& edges = stmts_->task_edges;
    edges.rebind(batch_id, id);
    if (auto err = step_to_row(edges, caf::make_error(errc::database_error, "a cancelled task is gone")))
      return err;
    auto seq = edges.column_int64(0);
    auto dependents = edges.column_int64(1);
    edges.reset();
    if (dependents == 0)
      continue;
    auto below = settle_dependents(seq, batch_id, id, task_disposition::cancelled, now);
    if (!below)
      return below.error();
    skipped += *below;
  }
  if (cancelled == 0)
    return cancelled_batch{0, false};
  if (auto err = stmts_->count_cancelled_tasks.execute(batch_id, cancelled, delayed))
    return err;
  if (skipped > 0)
    if (auto err = stmts_->count_batch.execute(batch_id, int64_t{0}, skipped, int64_t{0}, int64_t{0}, int64_t{0}))
      return err;
  auto finished = finish_if_done(batch_id, now);
  if (!finished)
    return finished.error();
  return cancelled_batch{cancelled, *finished};
}

} // namespace fleet
