#include "actors/fleet_manager.hpp"
#include "actors/fleet_manager_internal.hpp"
#include "actors/exception_guard.hpp"
#include "actors/origin.hpp"
#include "fleet/ids.hpp"
#include "fleet/json_codec.hpp"
#include "fleet/log.hpp"
#include "fleet/retry_policy.hpp"
#include "fleet/text.hpp"
#include "fleet/upload_part.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>

namespace fleet {

using namespace manager_detail;

// -- dispatch -------------------------------------------------------------------

void fleet_manager_state::invalidate_ready() {
  ready_.clear();
  ready_exhausted_ = false;
  ready_read_up_to_.reset();
}

bool fleet_manager_state::refill() {
  // Tasks with uncommitted changes still read as pending in the database: skip them rather
  // than commit first, so that a refill does not cut the group commit short. A read from the top
  // meets all of them; the reads after it go on from where it stopped, past every task it handed
  // out, so they stay the window's size however many changes wait for their commit.
  auto window = std::max<size_t>(64, 2 * static_cast<size_t>(cfg_.max_concurrent_workers));
  auto limit = ready_read_up_to_ ? window : window + commits_.uncommitted();
  auto rows = reader_->next_runnable(limit, ready_read_up_to_);
  if (!rows) {
    if (rows.error() == errc::database_damaged)
      note_write_outcome(rows.error());
    else
      spdlog::error("cannot read runnable tasks: {}", error_text(rows.error()));
    return false;
  }
  ready_exhausted_ = rows->size() < limit;
  if (!rows->empty())
    ready_read_up_to_ = run_position{rows->back().spec.priority, rows->back().seq};
  for (auto& row : *rows)
    if (!commits_.is_uncommitted(row.seq) && running_.count(row.seq) == 0
        && cancelling_.count(row.batch_id) == 0)
      ready_.push_back(std::move(row));
  return true;
}

void fleet_manager_state::dispatch() {
  if (draining_ || stopping_ || fleet_paused_ || !storage_error_.empty())
    return;
  // An attempt that fails at once (no worker) reports back into dispatch: the running loop
  // picks up the freed slot, so re-entry is refused rather than recursing once per task.
  if (dispatching_)
    return;
  dispatching_ = true;
  auto guard = caf::detail::make_scope_guard([this] { dispatching_ = false; });
  while (running_.size() < static_cast<size_t>(cfg_.max_concurrent_workers)
         && commits_.in_flight() < opts_.max_groups_in_flight) {
    while (ready_.empty() && !ready_exhausted_)
      if (!refill())
        return;
    if (ready_.empty())
      return;
    // The first task of the window that some node can take now: a task whose nodes are all busy
    // (or gone) lets the ones behind it pass.
    auto limit = cfg_.max_concurrent_workers;
    auto next = ready_.begin();
    std::optional<std::string> node;
    for (; next != ready_.end(); ++next) {
      // Tasks whose attempts were lost to a crash run one at a time: should one crash fleetd
      // again, it is the only suspect in flight, and the tasks beside it are not blamed as often.
      if (next->orphaned > 0 && suspects_running_ > 0)
        continue;
      if ((node = nodes_.place(next->spec.type, limit)))
        break;
    }
    if (next == ready_.end())
      return;
    auto task = std::move(*next);
    ready_.erase(next);
    start_attempt(std::move(task), *node);
  }
}

fleet_manager_state::running_attempt fleet_manager_state::begin_attempt(const runnable_task& next,
                                                                        const std::string& node) {
  auto now = now_ms();
  running_attempt r;
  r.seq = next.seq;
  r.batch_id = next.batch_id;
  r.task_id = next.spec.id;
  r.attempt = next.attempts + 1;
  r.counted_before = next.attempts - next.interruptions - next.replay_base;
  r.orphaned_before = next.orphaned;
  if (r.orphaned_before > 0)
    ++suspects_running_;
  r.worker_id = make_worker_id(epoch_ms_, ++worker_seq_);
  r.node = node;
  r.spawned_at = now;
  r.deadline = now + cfg_.worker_timeout_ms;
  if (next.ready_at > 0)
    opts_.metrics->queue_wait.observe_ms(now - next.ready_at);
  queue(attempt_started{r.seq, r.batch_id, r.task_id, r.attempt, r.worker_id, now,
                        node == local_node_name ? std::string{} : node});
  // A local attempt can take fleetd down before this start commits: the journal remembers it.
  auto journaled = opts_.journal && node == local_node_name;
  if (journaled)
    r.journal_slot = opts_.journal->note(r.seq, r.attempt, now);
  after_commit([this, seq = r.seq, attempt = r.attempt, journaled, slot = r.journal_slot] {
    if (journaled)
      opts_.journal->clear(slot, seq);
    if (auto i = running_.find(seq); i != running_.end() && i->second.attempt == attempt)
      i->second.start_committed = true;
  });
  nodes_.started(node);
  return r;
}

void fleet_manager_state::start_attempt(runnable_task next, const std::string& node) {
  if (node != local_node_name) {
    start_remote_attempt(next, node);
    return;
  }
  auto r = begin_attempt(next, node);
  // The hooks may be a user's code: what they throw fails this attempt, not the manager's state.
  auto worker = catching([&] {
    return opts_.hooks->get_worker_instance(self_->home_system(), *opts_.registry, r.worker_id, next.spec);
  });
  auto seq = r.seq;
  auto attempt = r.attempt;
  if (worker)
    r.worker = *worker;
  running_.emplace(seq, std::move(r));
  schedule_flush();
  if (!worker) {
    on_outcome(seq, attempt, worker.error());
    return;
  }
  self_->monitor(*worker);
  schedule_tick();
  auto timeout = std::chrono::milliseconds(cfg_.worker_timeout_ms);
  auto started = catching([&]() -> caf::expected<bool> {
    opts_.hooks->execute_task_on_worker(self_, *worker, next.spec, attempt, timeout,
                                        [this, seq, attempt](caf::expected<task_outcome> outcome) {
                                          on_outcome(seq, attempt, std::move(outcome));
                                        });
    return true;
  });
  if (!started)
    on_outcome(seq, attempt, started.error());
}

void fleet_manager_state::start_remote_attempt(const runnable_task& next, const std::string& node) {
  auto r = begin_attempt(next, node);
  auto seq = r.seq;
  auto attempt = r.attempt;
  auto worker_id = r.worker_id;
  running_.emplace(seq, std::move(r));
  schedule_flush();
  schedule_tick();
  auto generation = nodes_.generation(node);
  self_->request(node_handles_.at(node), caf::infinite, execute_atom::value, worker_id, next.spec, attempt)
    .then(guarded([this, seq, attempt](task_outcome& outcome) { on_outcome(seq, attempt, std::move(outcome)); }),
          guarded([this, seq, attempt, node, generation](caf::error& err) {
            // CAF's own errors mean the node went away under the attempt (the node reports a
            // worker's end as a fleet error): that is the node's failure, not the task's.
            auto i = running_.find(seq);
            auto current = i != running_.end() && i->second.attempt == attempt;
            if (current && err.category() == caf::atom("system") && nodes_.generation(node) == generation) {
              drop_node(node, error_text(err));
              return;
            }
            on_outcome(seq, attempt, std::move(err));
          }));
}

void fleet_manager_state::release(const running_attempt& r, bool stop) {
  nodes_.finished(r.node);
  if (r.orphaned_before > 0)
    --suspects_running_;
  if (!stop)
    return;
  if (r.worker) {
    self_->send_exit(r.worker, caf::exit_reason::user_shutdown);
  } else if (auto h = node_handles_.find(r.node); h != node_handles_.end()) {
    self_->send(h->second, stop_atom::value, r.worker_id);
  }
}

void fleet_manager_state::on_outcome(int64_t seq, int32_t attempt,
                                     caf::expected<task_outcome> outcome) {
  auto i = running_.find(seq);
  if (i == running_.end() || i->second.attempt != attempt)
    return; // cancelled or already decided: a late reply changes nothing
  auto r = std::move(i->second);
  running_.erase(i);
  auto now = now_ms();
  attempt_ended end;
  end.seq = seq;
  end.batch_id = r.batch_id;
  end.task_id = r.task_id;
  end.attempt = attempt;
  end.at = now;
  end.duration_ms = now - r.spawned_at;
  auto succeeded = outcome && outcome->success;
  if (succeeded) {
    end.outcome = attempt_outcome::succeeded;
    // Whatever a worker (or a remote node) wrote, what is stored and sent on is UTF-8.
    end.result = to_utf8(outcome->result);
    end.next = task_disposition::succeeded;
  } else {
    if (!outcome && outcome.error() == caf::sec::request_timeout) {
      end.outcome = attempt_outcome::timed_out;
      end.error = fmt::format("worker timed out after {} ms", cfg_.worker_timeout_ms);
    } else {
      end.outcome = attempt_outcome::failed;
      end.error = to_utf8(outcome ? outcome->error : error_text(outcome.error()));
      if (end.error.empty())
        end.error = "task failed";
    }
    auto counted = r.counted_before + 1;
    auto may_retry = !outcome || outcome->retry; // a worker may know that no retry can help
    if (may_retry && should_retry(cfg_, counted)) {
      std::uniform_real_distribution<double> unit{0.0, 1.0};
      end.next = task_disposition::retry;
      end.not_before = now + backoff_delay_ms(cfg_, counted, unit(rng_));
    } else {
      end.next = task_disposition::failed;
    }
  }
  // A worker that timed out or failed may still be busy (an exec child): stop it.
  release(r, !succeeded);
  remember_finished(r, succeeded, now);
  if (is_terminal(end.next)) {
    // The coordinator gets them after the commit, all of a group in one message.
    commits_.add_result({r.task_id, succeeded, end.result, end.error, attempt, end.duration_ms});
  } else if (end.next == task_disposition::retry) {
    after_commit([this, due = end.not_before] { schedule_wakeup(due); });
  }
  queue(std::move(end));
  if (draining_ && running_.empty() && drain_pending_)
    after_commit([this] { finish_drain(0); });
  schedule_flush();
  dispatch();
}

attempt_ended fleet_manager_state::stopped_attempt(const running_attempt& r, int64_t now,
                                                   attempt_outcome outcome, std::string error,
                                                   task_disposition next) {
  attempt_ended end;
  end.seq = r.seq;
  end.batch_id = r.batch_id;
  end.task_id = r.task_id;
  end.attempt = r.attempt;
  end.at = now;
  end.outcome = outcome;
  end.error = std::move(error);
  end.next = next;
  end.duration_ms = now - r.spawned_at;
  return end;
}

attempt_ended fleet_manager_state::lost_attempt(const running_attempt& r, int64_t now, std::string reason) {
  auto end = lost_attempt_end(r.seq, r.batch_id, r.task_id, r.attempt, now, now - r.spawned_at,
                              r.orphaned_before + 1, opts_.max_interruptions, std::move(reason));
  if (end.next == task_disposition::failed) {
    spdlog::error("task {} of batch {} failed for good: {}", r.task_id, r.batch_id, end.error);
    commits_.add_result({r.task_id, false, {}, end.error, r.attempt, end.duration_ms});
  }
  return end;
}

void fleet_manager_state::on_down(const caf::down_msg& msg) {
  if (unsubscribe(msg.source))
    return;
  for (const auto& [name, handle] : node_handles_) {
    if (handle.address() == msg.source) {
      drop_node(name, fmt::format("connection lost ({})", msg.reason ? error_text(msg.reason) : "normal exit"));
      return;
    }
  }
  for (auto& [seq, r] : running_) {
    if (r.worker && r.worker.address() == msg.source) {
      auto reason = msg.reason ? error_text(msg.reason) : std::string{"normal exit"};
      on_outcome(seq, r.attempt,
                 caf::make_error(errc::worker_failed,
                                 fmt::format("worker exited without a result ({})", reason)));
      return;
    }
  }
}

void fleet_manager_state::remember_finished(const running_attempt& r, bool success, int64_t at) {
  worker_info info{r.worker_id, r.batch_id, r.task_id, r.attempt,
                   success ? worker_status::completed : worker_status::failed, r.spawned_at, at, r.node};
  recent_.push_front(std::move(info));
  while (recent_.size() > opts_.recent_workers_kept)
    recent_.pop_back();
}

// -- timeouts -------------------------------------------------------------------

void fleet_manager_state::schedule_tick() {
  if (running_.empty())
    return;
  // One sweep instead of one timer per attempt; a timeout fires at most a quarter of
  // worker_timeout (and never more than 1 s) late.
  auto interval = std::clamp<int64_t>(cfg_.worker_timeout_ms / 4, 1, 1000);
  tick_timer_.arm(self_, std::chrono::milliseconds(interval), tick_atom::value);
}

void fleet_manager_state::on_tick() {
  tick_timer_.fired();
  auto now = now_ms();
  std::vector<std::pair<int64_t, int32_t>> late;
  for (const auto& [seq, r] : running_)
    if (r.deadline <= now)
      late.emplace_back(seq, r.attempt);
  for (auto [seq, attempt] : late)
    on_outcome(seq, attempt, caf::make_error(caf::sec::request_timeout));
  schedule_tick();
}

} // namespace fleet
