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
#include <caf/detail/scope_guard.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>

namespace fleet {

using namespace manager_detail;

// -- dispatch -------------------------------------------------------------------

void fleet_manager_state::dispatch() {
  if (drain_.draining() || stopping_ || fleet_paused_ || !storage_.writable())
    return;
  // An attempt that fails at once (no worker) reports back into dispatch: the running loop
  // picks up the freed slot, so re-entry is refused rather than recursing once per task.
  if (dispatching_)
    return;
  dispatching_ = true;
  auto guard = caf::detail::make_scope_guard([this] { dispatching_ = false; });
  auto now = now_ms();
  // Queues that found nothing to start in this round (each read once at most).
  std::vector<bool> tried(queues_.all().size(), false);
  while (attempts_.size() < static_cast<size_t>(cfg_.max_concurrent_workers)
         && commits_.in_flight() < opts_.max_groups_in_flight && !commits_.backlogged()) {
    auto* q = queues_.pick(now, tried);
    if (q == nullptr)
      break;
    if (!fill_ready(*q))
      break;
    // The first task of the window that some node can take now: a task whose nodes are all busy
    // (or gone) lets the ones behind it pass.
    std::optional<std::string> node;
    auto next = q->window.take_first([&](const runnable_task& t) {
      // Tasks whose attempts were lost to a crash run one at a time: should one crash fleetd
      // again, it is the only suspect in flight, and the tasks beside it are not blamed as often.
      if (t.orphaned > 0 && attempts_.suspects_running() > 0)
        return false;
      node = nodes_.table().place(t.spec.type, cfg_.max_concurrent_workers);
      return node.has_value();
    });
    if (!next) {
      tried[queues_.index_of(*q)] = true;
      continue;
    }
    queues_.on_start(*q, next->spec.group, now);
    start_attempt(std::move(*next), *node);
  }
  send_node_outboxes();
  arm_rate_timer();
}

running_attempt fleet_manager_state::begin_attempt(const runnable_task& next,
                                                                        const std::string& node) {
  auto now = now_ms();
  running_attempt r;
  r.seq = next.seq;
  r.batch_id = next.batch_id;
  r.task_id = next.spec.id;
  r.attempt = next.attempts + 1;
  r.counted_before = next.attempts - next.interruptions - next.replay_base;
  r.orphaned_before = next.orphaned;
  r.worker_id = make_worker_id(epoch_ms_, ++worker_seq_);
  r.node = node;
  r.spawned_at = now;
  r.policy = next.spec.policy;
  r.queue = next.spec.queue;
  r.group = next.spec.group;
  auto timeout = effective_config(cfg_, r.policy).worker_timeout_ms;
  r.deadline = now + timeout;
  shortest_timeout_ms_ = std::min(shortest_timeout_ms_, timeout);
  if (next.ready_at > 0)
    opts_.metrics->queue_wait.observe_ms(now - next.ready_at);
  nodes_.table().started(node);
  if (node != local_node_name && opts_.node_start_delay_ms > 0) {
    r.start_held = true;
    ++starts_held_;
    held_starts_.emplace_back(r.seq, r.attempt);
    held_starts_timer_.arm(self_, std::chrono::milliseconds(opts_.node_start_delay_ms), held_starts_atom::value);
    return r;
  }
  // A local attempt can take fleetd down before this start commits: the journal remembers it.
  if (opts_.journal && node == local_node_name)
    r.journal_slot = opts_.journal->note(r.seq, r.attempt, now);
  queue_start(r);
  return r;
}

void fleet_manager_state::queue_start(const running_attempt& r) {
  queue(start_of(r));
  auto journaled = opts_.journal && r.node == local_node_name;
  after_commit([this, seq = r.seq, attempt = r.attempt, journaled, slot = r.journal_slot] {
    if (journaled)
      opts_.journal->clear(slot, seq);
    attempts_.start_committed(seq, attempt);
  });
}

void fleet_manager_state::queue_end(const running_attempt& r, attempt_ended end) {
  if (auto start = take_held_start(r))
    queue(std::move(*start));
  queue(std::move(end));
}

std::optional<attempt_started> fleet_manager_state::take_held_start(const running_attempt& r) {
  if (!r.start_held)
    return std::nullopt;
  --starts_held_;
  return start_of(r);
}

void fleet_manager_state::start_attempt(runnable_task next, const std::string& node) {
  if (next.dependencies > 0)
    if (auto refused = give_dependency_results(next, node)) {
      // Started and ended at once, so that the record says why it did not run.
      auto r = begin_attempt(next, node);
      auto seq = r.seq;
      auto attempt = r.attempt;
      attempts_.add(std::move(r));
      schedule_flush();
      on_outcome(seq, attempt, std::move(*refused));
      return;
    }
  if (node != local_node_name) {
    start_remote_attempt(next, node);
    return;
  }
  auto r = begin_attempt(next, node);
  attempt_info info{r.worker_id, r.attempt, r.deadline, coordinator_, r.batch_id};
  // The hooks may be a user's code: what they throw fails this attempt, not the manager's state.
  auto shared = opts_.registry->shared(next.spec.type);
  auto worker = catching([&]() -> caf::expected<worker_actor> {
    if (shared)
      return shared_worker(info, next.spec);
    return opts_.hooks->get_worker_instance(self_->home_system(), *opts_.registry, info, next.spec);
  });
  auto seq = r.seq;
  auto attempt = r.attempt;
  auto timeout = std::chrono::milliseconds(r.deadline - r.spawned_at);
  if (worker) {
    r.worker = caf::actor_cast<caf::strong_actor_ptr>(*worker);
    r.shared_worker = shared;
  }
  attempts_.add(std::move(r));
  schedule_flush();
  if (!worker) {
    on_outcome(seq, attempt, worker.error());
    return;
  }
  if (!shared)
    self_->monitor(*worker);
  schedule_tick();
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

std::optional<task_outcome> fleet_manager_state::give_dependency_results(runnable_task& next,
                                                                        const std::string& node) {
  // Small results came with the task's row; bigger ones are read now, and only now held.
  int64_t stored_bytes = 0;
  if (next.spec.deps.empty()) {
    auto results = reader_->dependency_results(next.seq, static_cast<int64_t>(opts_.max_dependency_results));
    if (!results)
      return task_outcome{false, {}, fmt::format("cannot read the results of its dependencies: {}",
                                                 error_text(results.error()))};
    stored_bytes = results->bytes;
    next.spec.deps = std::move(results->object);
  }
  auto message_bytes = node == local_node_name ? SIZE_MAX : opts_.limits.max_message_bytes;
  // The same dependencies give the same results: no attempt could be given them, none is retried.
  if (auto refused = dependency_refusal(next, stored_bytes, opts_.max_dependency_results, message_bytes))
    return task_outcome{false, {}, std::move(*refused), false};
  return std::nullopt;
}

namespace {

std::string exit_reason_text(const caf::down_msg& msg) {
  return msg.reason ? error_text(msg.reason) : std::string{"normal exit"};
}

/// How an attempt ends whose worker exited before it answered.
caf::error worker_exit_error(const caf::down_msg& msg) {
  return caf::make_error(errc::worker_failed,
                         fmt::format("worker exited without a result ({})", exit_reason_text(msg)));
}

} // namespace

caf::expected<worker_actor> fleet_manager_state::shared_worker(const attempt_info& info, const task& t) {
  if (auto i = shared_workers_.find(t.type); i != shared_workers_.end())
    return i->second;
  auto made = opts_.hooks->get_worker_instance(self_->home_system(), *opts_.registry, info, t);
  if (!made)
    return made;
  self_->monitor(*made);
  shared_workers_.emplace(t.type, *made);
  return made;
}

bool fleet_manager_state::on_shared_worker_down(const caf::down_msg& msg) {
  auto i = std::find_if(shared_workers_.begin(), shared_workers_.end(),
                        [&](const auto& entry) { return entry.second.address() == msg.source; });
  if (i == shared_workers_.end())
    return false;
  auto type = i->first;
  shared_workers_.erase(i); // the next attempt of the type gets a new one
  spdlog::warn("the shared worker of type \"{}\" exited ({}): its attempts fail", type, exit_reason_text(msg));
  for (auto [seq, attempt] : attempts_.on_shared_worker(msg.source))
    end_attempt(seq, attempt, worker_exit_error(msg));
  dispatch();
  return true;
}

void fleet_manager_state::release(const running_attempt& r, bool stop) {
  nodes_.table().finished(r.node);
  attempt_left(r);
  // A shared worker runs other attempts: this one is dropped, and its late answer ignored.
  if (!stop || r.shared_worker)
    return;
  if (r.worker) {
    auto worker = caf::actor_cast<worker_actor>(r.worker);
    auto stopped = catching([&]() -> caf::expected<bool> {
      opts_.hooks->stop_attempt(self_, worker, r.worker_id);
      return true;
    });
    if (!stopped)
      spdlog::error("cannot stop worker {}: {}", r.worker_id, error_text(stopped.error()));
  } else if (auto node = nodes_.handle(r.node))
    self_->send(*node, stop_atom::value, r.worker_id);
}

void fleet_manager_state::on_outcome(int64_t seq, int32_t attempt, caf::expected<task_outcome> outcome,
                                     bool stop_worker) {
  end_attempt(seq, attempt, std::move(outcome), stop_worker);
  dispatch();
}

void fleet_manager_state::end_attempt(int64_t seq, int32_t attempt, caf::expected<task_outcome> outcome,
                                      bool stop_worker) {
  auto r = attempts_.take(seq, attempt);
  if (!r)
    return; // cancelled or already decided: a late reply changes nothing
  auto now = now_ms();
  auto end = end_of_attempt(
    *r, outcome, cfg_, now, [this] { return std::uniform_real_distribution<double>{0.0, 1.0}(rng_); },
    opts_.max_task_result);
  auto succeeded = end.next == task_disposition::succeeded;
  // A worker that timed out or failed may still be busy (an exec child): stop it.
  release(*r, stop_worker || !succeeded);
  attempts_.remember_finished(*r, succeeded, now);
  if (is_terminal(end.next)) {
    // The coordinator gets them after the commit, all of a group in one message.
    commits_.add_result({r->task_id, succeeded, end.result, end.error, attempt, end.duration_ms});
  } else if (end.next == task_disposition::retry) {
    after_commit([this, due = end.not_before] { schedule_wakeup(due); });
  }
  queue_end(*r, std::move(end));
  if (drain_.attempt_ended(attempts_.size()))
    after_commit([this] { finish_drain(0); });
  schedule_flush();
}

attempt_ended fleet_manager_state::lost_attempt(const running_attempt& r, int64_t now, std::string reason) {
  auto end = lost_with_node_end(r, now, opts_.max_interruptions, std::move(reason));
  if (end.next == task_disposition::failed) {
    spdlog::error("task {} of batch {} failed for good: {}", r.task_id, r.batch_id, end.error);
    commits_.add_result({r.task_id, false, {}, end.error, r.attempt, end.duration_ms});
  }
  return end;
}

namespace {

/// The longest progress note shown (longer ones are cut at a character).
constexpr size_t max_progress_note = 256;

/// How often reported progress is stored: a worker may report many times a second.
constexpr int64_t progress_store_interval_ms = 1'000;

} // namespace

std::optional<std::pair<int64_t, int32_t>> fleet_manager_state::attempt_of_worker(const std::string& worker_id,
                                                                                   bool& from_its_worker) const {
  from_its_worker = false;
  const auto* r = attempts_.find_worker_id(worker_id);
  if (r == nullptr)
    return std::nullopt;
  if (const auto& sender = self_->current_sender(); sender != nullptr) {
    if (r->worker)
      from_its_worker = sender->address() == r->worker->address();
    else if (auto node = nodes_.handle(r->node))
      from_its_worker = sender->node() == node->node(); // some actor of the node that runs it
  }
  return std::pair{r->seq, r->attempt};
}

void fleet_manager_state::on_progress(const std::string& worker_id, double progress, const std::string& note) {
  bool from_its_worker = false;
  auto found = attempt_of_worker(worker_id, from_its_worker);
  if (!found || !from_its_worker || !(progress >= 0 && progress <= 1))
    return; // ended already, someone else's, or not a fraction (NaN included): nothing to show
  if (auto* r = attempts_.find(found->first, found->second)) {
    r->progress = progress;
    r->note = std::string{utf8_head(printable(note, max_progress_note), max_progress_note)};
    unsaved_progress_.insert(*found);
    progress_timer_.arm(self_, std::chrono::milliseconds{progress_store_interval_ms}, progress_flush_atom::value);
  }
}

void fleet_manager_state::on_progress_flush() {
  progress_timer_.fired();
  std::vector<progress_report> reports;
  for (auto [seq, attempt] : unsaved_progress_)
    if (const auto* r = attempts_.find(seq, attempt))
      reports.push_back({seq, r->progress, r->note});
  unsaved_progress_.clear();
  if (reports.empty())
    return;
  // Behind the group commit (write): the attempts' starts are stored by then.
  write([reports = std::move(reports)](fleet_store& store) { return store.save_progress(reports); },
        [](caf::error err) {
          if (err)
            spdlog::warn("progress reports not stored: {}", error_text(err));
        });
}

caf::result<bool> fleet_manager_state::submit_result(const std::string& worker_id, task_outcome outcome) {
  bool from_its_worker = false;
  auto found = attempt_of_worker(worker_id, from_its_worker);
  if (!found)
    return false; // ended already (or never ran here): its outcome was counted then, if at all
  if (!from_its_worker)
    return caf::make_error(errc::not_permitted,
                           fmt::format("only the worker of attempt {} may report its outcome", worker_id));
  auto rp = self_->make_response_promise<bool>();
  on_outcome(found->first, found->second, std::move(outcome), true);
  after_commit([rp]() mutable { rp.deliver(true); });
  return rp;
}

void fleet_manager_state::on_down(const caf::down_msg& msg) {
  if (subscriptions_.forget(msg.source)) {
    publish_subscription_gauges();
    return;
  }
  if (auto node = nodes_.name_of(msg.source)) {
    drop_node(*node, nodes_.table().draining(*node) ? std::string{"it left after draining"}
                                                    : fmt::format("connection lost ({})", exit_reason_text(msg)));
    return;
  }
  if (on_shared_worker_down(msg))
    return;
  if (auto running = attempts_.find_worker(msg.source))
    on_outcome(running->first, running->second, worker_exit_error(msg));
}

// -- timeouts -------------------------------------------------------------------

void fleet_manager_state::schedule_tick() {
  if (attempts_.empty()) {
    shortest_timeout_ms_ = std::numeric_limits<int64_t>::max();
    return;
  }
  // One sweep instead of one timer per attempt; a timeout fires at most a quarter of the shortest
  // timeout among the running attempts (and never more than 1 s) late.
  auto interval = std::clamp<int64_t>(std::min(cfg_.worker_timeout_ms, shortest_timeout_ms_) / 4, 1, 1000);
  tick_timer_.arm(self_, std::chrono::milliseconds(interval), tick_atom::value);
}

void fleet_manager_state::on_tick() {
  tick_timer_.fired();
  for (auto [seq, attempt] : attempts_.late(now_ms()))
    on_outcome(seq, attempt, caf::make_error(caf::sec::request_timeout));
  schedule_tick();
}

} // namespace fleet
