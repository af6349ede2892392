// cancel_batch and cancel_tasks: the running attempts they select stop at once, and one write
// records the stopped attempts' held starts, the waiting tasks cancelled, then the stopped ends.

#include "actors/fleet_manager.hpp"
#include "actors/fleet_manager_internal.hpp"
#include "fleet/log.hpp"
#include "fleet/text.hpp"

#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>

#include <algorithm>

namespace fleet {

namespace {

/// In a cancel's write, before its waiting tasks: the held starts of the attempts it stopped
/// (their tasks still read as pending), and the milestones they reach (the batch's start).
caf::expected<fleet_store::milestones> record_held_starts(fleet_store& store, const std::vector<transition>& starts) {
  if (starts.empty())
    return fleet_store::milestones{};
  return store.record(starts);
}

/// In a cancel's write, after its waiting tasks: the stopped attempts' ends, and the milestones
/// of all (the starts', the batch finishing with the cancel, then what the ends reach).
caf::expected<fleet_store::milestones> record_stopped(fleet_store& store, const std::string& batch_id, bool finished,
                                                      const std::vector<transition>& ends,
                                                      fleet_store::milestones out) {
  if (finished)
    out.push_back({batch_id, true});
  auto recorded = store.record(ends);
  if (!recorded)
    return recorded.error();
  out.insert(out.end(), recorded->begin(), recorded->end());
  return out;
}

} // namespace

fleet_manager_state::stopped_attempts
fleet_manager_state::stop_for_cancel(const std::function<bool(const running_attempt&)>& which, int64_t now) {
  // Running attempts stop now: out of the table, a late outcome records nothing.
  stopped_attempts out;
  for (const auto& r : attempts_.take_if(which)) {
    if (auto start = take_held_start(r))
      out.held_starts.emplace_back(std::move(*start));
    out.ends.emplace_back(
      stopped_attempt_end(r, now, attempt_outcome::cancelled, "cancelled", task_disposition::cancelled));
    release(r, true);
    attempts_.remember_finished(r, false, now);
  }
  return out;
}

void fleet_manager_state::requeue_stopped(const stopped_attempts& stopped, const caf::error& err) {
  // The group commit writes them once the store takes writes again, each start before its end.
  for (const auto& start : stopped.held_starts)
    queue(start);
  for (const auto& change : stopped.ends) {
    auto end = std::get<attempt_ended>(change);
    end.outcome = attempt_outcome::interrupted;
    end.next = task_disposition::requeue;
    end.error = fmt::format("stopped by a cancel that could not be stored: {}", error_text(err));
    queue(std::move(end));
  }
  if (!stopped.ends.empty())
    schedule_flush();
}

void fleet_manager_state::write_cancel(const std::string& batch_id, stopped_attempts stops, cancel_step step,
                                       std::function<void(caf::expected<cancel_written>&)> then) {
  // Until the cancel commits its tasks still read as pending: none may start meanwhile.
  cancelling_.insert(batch_id);
  invalidate_ready();
  auto job = [batch_id, stops, step = std::move(step)](fleet_store& store) -> caf::expected<cancel_written> {
    auto started = record_held_starts(store, stops.held_starts);
    if (!started)
      return started.error();
    auto cancelled = step(store);
    if (!cancelled)
      return cancelled.error();
    cancel_written out;
    if (!*cancelled)
      return out;
    out.waiting = (*cancelled)->waiting;
    // A batch with running attempts is neither finished nor cancelled: `stops.ends` is empty otherwise.
    auto milestones = record_stopped(store, batch_id, (*cancelled)->finished, stops.ends, std::move(*started));
    if (!milestones)
      return milestones.error();
    out.milestones = std::move(*milestones);
    return out;
  };
  write<cancel_written>(std::move(job), [this, batch_id, stops = std::move(stops),
                                         then = std::move(then)](caf::expected<cancel_written> done) mutable {
    cancelling_.erase(cancelling_.find(batch_id));
    invalidate_ready();
    // The cancel is not stored, but its attempts were stopped: their tasks run again instead of
    // staying `running` in the file until a restart.
    if (!done)
      requeue_stopped(stops, done.error());
    then(done);
    if (done)
      log_milestones(done->milestones);
    dispatch();
  });
}

caf::result<bool> fleet_manager_state::cancel(const std::string& batch_id) {
  auto now = now_ms();
  auto stops = stop_for_cancel([&](const running_attempt& r) { return r.batch_id == batch_id; }, now);
  auto stopped = stops.ends.size();
  auto rp = self_->make_response_promise<bool>();
  write_cancel(
    batch_id, std::move(stops), [batch_id, now](fleet_store& store) { return store.cancel_batch(batch_id, now); },
    [this, rp, batch_id, stopped](caf::expected<cancel_written>& done) mutable {
      if (!done) {
        rp.deliver(std::move(done.error()));
        return;
      }
      if (done->waiting) {
        spdlog::info("batch {} cancelled ({} running attempts stopped)", batch_id, stopped);
        opts_.metrics->tasks_cancelled.add(static_cast<uint64_t>(*done->waiting) + stopped);
      }
      rp.deliver(done->waiting.has_value());
    });
  return rp;
}

namespace {

/// Task ids one cancel_tasks may name: each is looked up before anything changes, on the manager.
constexpr size_t max_ids_per_request = 10'000;

} // namespace

caf::result<int64_t> fleet_manager_state::cancel_tasks(const std::string& batch_id,
                                                       std::vector<std::string>& task_ids) {
  if (task_ids.empty())
    return caf::make_error(errc::invalid_argument, "name at least one task to cancel (a cancel of the whole batch "
                                                   "names none)");
  if (task_ids.size() > max_ids_per_request)
    return caf::make_error(errc::limit_exceeded, fmt::format("at most {} task ids per cancel (got {})",
                                                             max_ids_per_request, task_ids.size()));
  std::sort(task_ids.begin(), task_ids.end());
  task_ids.erase(std::unique(task_ids.begin(), task_ids.end()), task_ids.end());
  // All or nothing: every id is checked before an attempt stops.
  auto st = reader_->status(batch_id);
  if (!st)
    return st.error();
  if (st->status == batch_state::cancelled || st->finished_at != 0)
    return int64_t{0};
  for (const auto& id : task_ids) {
    auto state = reader_->task_state(batch_id, id);
    if (!state)
      return state.error();
    if (state->empty())
      return caf::make_error(errc::invalid_task, fmt::format("batch {} has no task {}", batch_id, quoted_input(id)));
  }
  auto now = now_ms();
  auto stops = stop_for_cancel(
    [&](const running_attempt& r) {
      return r.batch_id == batch_id && std::binary_search(task_ids.begin(), task_ids.end(), r.task_id);
    },
    now);
  auto stopped = static_cast<int64_t>(stops.ends.size());
  auto rp = self_->make_response_promise<int64_t>();
  write_cancel(
    batch_id, std::move(stops),
    [batch_id, ids = std::move(task_ids), now](
      fleet_store& store) -> caf::expected<std::optional<fleet_store::cancelled_batch>> {
      auto cancelled = store.cancel_tasks(batch_id, ids, now);
      if (!cancelled)
        return cancelled.error();
      return std::optional{*cancelled};
    },
    [this, rp, batch_id, stopped](caf::expected<cancel_written>& done) mutable {
      if (!done) {
        rp.deliver(std::move(done.error()));
        return;
      }
      auto n = done->waiting.value_or(0) + stopped;
      if (n > 0) {
        spdlog::info("batch {}: {} tasks cancelled ({} running attempts stopped)", batch_id, n, stopped);
        opts_.metrics->tasks_cancelled.add(static_cast<uint64_t>(n));
      }
      rp.deliver(n);
    });
  return rp;
}

} // namespace fleet
