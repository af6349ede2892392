#include "actors/fleet_manager.hpp"

#include "actors/coordinator.hpp"
#include "actors/exception_guard.hpp"
#include "actors/origin.hpp"
#include "fleet/error.hpp"
#include "fleet/ids.hpp"
#include "fleet/json_codec.hpp"
#include "fleet/log.hpp"
#include "fleet/retry_policy.hpp"
#include "fleet/text.hpp"
#include "fleet/upload_part.hpp"

#include <caf/actor_system.hpp>
#include <caf/detail/scope_guard.hpp>
#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>
#include <caf/spawn_options.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

namespace fleet {

namespace {

int64_t wall_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

bool is_terminal(task_disposition x) {
  return x == task_disposition::succeeded || x == task_disposition::failed
         || x == task_disposition::cancelled;
}

/// A write job that writes nothing: its commit tells that everything posted before it is stored.
caf::error nothing_to_write(fleet_store&) {
  return caf::none;
}

/// What `f` returns (an expected), or the text of what it threw as errc::worker_failed.
template <class F>
auto catching(F f) -> decltype(f()) {
  try {
    return f();
  } catch (...) {
    return caf::make_error(errc::worker_failed,
                           fmt::format("the execution hook threw: {}", exception_text(std::current_exception())));
  }
}

/// A continuation that answers `rp` with `value()` once the write committed, or with its error.
template <class T, class Value>
auto reply_when_stored(caf::typed_response_promise<T> rp, Value value) {
  return [rp, value](caf::error err) mutable {
    if (err)
      rp.deliver(std::move(err));
    else
      rp.deliver(value());
  };
}

} // namespace

// -- set-up and tear-down -------------------------------------------------------

caf::error fleet_manager_state::init(self_pointer self, fleet_manager_options opts) {
  self_ = self;
  opts_ = std::move(opts);
  commits_ = group_commit{opts_.max_pending_transitions};
  store_ = opts_.store;
  if (!store_ || !opts_.registry || !opts_.hooks || !opts_.metrics)
    return caf::make_error(errc::invalid_config, "fleet manager needs a store, a registry, hooks and metrics");
  rng_.seed(opts_.random_seed != 0 ? opts_.random_seed : std::random_device{}());
  // Wall time anchors stored timestamps; the actor clock measures from there, so that the
  // deterministic test clock drives both timers and stored times.
  epoch_ms_ = wall_clock_ms();
  clock_origin_ = self->clock().now();
  auto now = now_ms();
  if (auto err = validate(opts_.initial_config))
    return err;
  if (opts_.autoscale.enabled)
    if (auto err = validate(opts_.autoscale))
      return err;
  auto overrides = store_->load_config_overrides();
  if (!overrides)
    return overrides.error();
  auto merged = apply(opts_.initial_config, *overrides);
  if (!merged)
    return caf::make_error(errc::invalid_config,
                           "the settings changed at runtime (stored in the database) do not fit the "
                           "start-up configuration: " + error_text(merged.error()));
  cfg_ = *merged;
  for (const auto& [field, value] : set_fields(*overrides)) {
    auto from_start = get_field(opts_.initial_config, field.name);
    if (from_start && *from_start != value)
      spdlog::info("{} = {} was set at runtime and is stored in the database: it overrides {} "
                   "from the start-up configuration",
                   field.option, to_string(value), to_string(*from_start));
  }
  recovery recovered;
  auto recover = [&]() -> caf::error {
    auto tx = store_->transaction();
    if (auto err = tx.begin())
      return err;
    auto r = store_->recover_interrupted(now, opts_.max_interruptions,
                                         opts_.journal ? opts_.journal->previous_run()
                                                       : std::vector<start_journal::entry>{});
    if (!r)
      return r.error();
    recovered = std::move(*r);
    auto expired = store_->expire_uploads(now - opts_.upload_expiry_ms);
    if (!expired)
      return expired.error();
    if (*expired > 0)
      spdlog::warn("dropped {} uploads that were never sealed", *expired);
    return tx.commit();
  };
  if (auto err = recover())
    return err;
  auto unfinished = store_->unfinished_tasks();
  if (!unfinished)
    return unfinished.error();
  if (recovered.requeued > 0)
    spdlog::warn("{} attempts were interrupted by the last shutdown and will run again", recovered.requeued);
  if (recovered.unrecorded > 0)
    spdlog::warn("{} attempts had started, but their start was not yet recorded, when fleetd stopped: they "
                 "are recorded as interrupted and run again",
                 recovered.unrecorded);
  for (const auto& poison : recovered.failed) {
    spdlog::error("task {} of batch {} failed for good: {}", poison.task_id, poison.batch_id, poison.error);
    opts_.metrics->count(poison);
  }
  opts_.metrics->tasks_interrupted.add(static_cast<uint64_t>(recovered.requeued + recovered.unrecorded));
  opts_.metrics->storage_writable.set(1);
  spdlog::info("fleet manager ready: {} unfinished tasks to resume, max {} workers", *unfinished,
               cfg_.max_concurrent_workers);
  auto paused = store_->fleet_paused();
  if (!paused)
    return paused.error();
  fleet_paused_ = *paused;
  if (fleet_paused_)
    spdlog::warn("the fleet is paused (fleetctl resume): no attempt starts");
  auto totals = store_->result_totals();
  if (!totals)
    return totals.error();
  auto reader = store_->open_reader();
  if (!reader)
    return reader.error();
  reader_ = std::move(*reader);
  // From here on the writer alone touches the writing connection.
  if (opts_.writer_thread) {
    caf::weak_actor_ptr weak_self = self->ctrl();
    writer_ = make_threaded_pipeline(
      std::move(store_),
      [weak_self] {
        // Urgent: ahead of the workers' outcomes in the mailbox, so that the writer gets its
        // next group without waiting for them.
        if (auto strong = weak_self.lock())
          caf::anon_send<caf::message_priority::high>(caf::actor_cast<fleet_manager_actor>(strong),
                                                      committed_atom::value);
      },
      &opts_.metrics->sqlite_commit);
  } else {
    writer_ = make_inline_pipeline(
      std::move(store_), [self] { self->send(self, committed_atom::value); }, &opts_.metrics->sqlite_commit);
  }
  store_.reset();
  opts_.store.reset();
  nodes_ = node_table(opts_.registry->types(), opts_.local_capacity);
  opts_.metrics->nodes.set(1);
  coordinator_ = self->spawn<caf::linked>(fleet::coordinator, *totals);
  // Promotes due retries and starts work once the behaviour is in place.
  self->send(self, wakeup_atom::value);
  if (opts_.autoscale.enabled) {
    idle_since_ms_ = now;
    self->delayed_send(self, std::chrono::milliseconds(opts_.autoscale.interval_ms), autoscale_atom::value);
  }
  return caf::none;
}

fleet_manager_state::~fleet_manager_state() {
  if (self_ == nullptr)
    return;
  // Outcomes already reported are kept; attempts still running are recovered on the next start.
  stopping_ = true;
  if (writer_) {
    commit_group();
    writer_.reset(); // finishes every posted write
  }
  if (drain_pending_)
    drain_promise_.deliver(static_cast<int32_t>(running_.size()));
  // Attempts on fleet-nodes stop there when the nodes lose fleetd.
  for (auto& [seq, r] : running_)
    if (r.worker)
      caf::anon_send_exit(r.worker, caf::exit_reason::user_shutdown);
}

int64_t fleet_manager_state::now_ms() const {
  auto elapsed = self_->clock().now() - clock_origin_;
  return epoch_ms_ + std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
}

// -- group commit ---------------------------------------------------------------

void fleet_manager_state::post(write_pipeline::job job, continuation then) {
  continuations_.push_back(std::move(then));
  writer_->post(std::move(job));
}

void fleet_manager_state::write(write_pipeline::job job, continuation then) {
  if (damaged_) {
    // Writing into a malformed b-tree can spread the damage: nothing more goes to the file.
    then(caf::make_error(errc::database_damaged, storage_error_));
    return;
  }
  // In order: a cancel must see the retries and ends queued before it.
  commit_group();
  post(std::move(job), std::move(then));
}

void fleet_manager_state::note_write_outcome(const caf::error& err) {
  if (err == errc::database_damaged) {
    if (!damaged_)
      spdlog::error("{}: fleetd writes nothing more into it, takes no new batches and starts no attempts. "
                    "Stop fleetd: at its next start it checks the file, refuses it and says how to recover. "
                    "Everything committed before stays as it was.",
                    error_text(err));
    damaged_ = true;
    storage_error_ = error_text(err);
    opts_.metrics->storage_writable.set(0);
    return;
  }
  if (err == errc::storage_unavailable) {
    if (storage_error_.empty())
      spdlog::error("the database cannot take writes ({}): no new batches and no new attempts until a "
                    "write succeeds; trying again every second. Nothing committed is lost.",
                    error_text(err));
    storage_error_ = error_text(err);
    opts_.metrics->storage_writable.set(0);
    schedule_flush_retry();
  } else if (!err && !storage_error_.empty() && !damaged_) {
    spdlog::info("the database takes writes again: resuming");
    storage_error_.clear();
    opts_.metrics->storage_writable.set(1);
  }
}

void fleet_manager_state::schedule_flush_retry() {
  flush_retry_timer_.arm(self_, std::chrono::seconds(1), flush_atom::value);
}

void fleet_manager_state::on_committed() {
  for (auto& err : writer_->take_outcomes()) {
    note_write_outcome(err);
    auto then = std::move(continuations_.front());
    continuations_.pop_front();
    // One by one: an exception must not cost the continuations after it their outcomes.
    try {
      then(std::move(err));
    } catch (...) {
      report_handler_exception("the continuation of a write", std::current_exception());
    }
  }
}

void fleet_manager_state::commit_group() {
  flush_wanted_ = false;
  if (damaged_)
    return;
  auto taken = commits_.take();
  if (!taken)
    return;
  auto g = std::make_shared<group_commit::group>(std::move(*taken));
  struct written {
    std::vector<fleet_store::batch_milestone> milestones;
    int64_t promoted = 0;
  };
  auto job = [g, promote_at = now_ms()](fleet_store& store) -> caf::expected<written> {
    written out;
    auto err = store.record(g->changes);
    out.milestones = store.take_milestones();
    if (err)
      return err;
    if (g->promote_retries) {
      auto n = store.promote_due_retries(promote_at);
      if (!n)
        return n.error();
      out.promoted = *n;
    }
    return out;
  };
  write_now<written>(std::move(job), [this, g](caf::expected<written> done) {
    if (!done) {
      spdlog::error("commit failed, will retry in 1 s: {}", error_text(done.error()));
      commits_.failed(std::move(*g));
      schedule_flush_retry();
      return;
    }
    commits_.committed(*g);
    for (const auto& change : g->changes)
      if (auto end = std::get_if<attempt_ended>(&change))
        opts_.metrics->count(*end);
    // Before the actions, which tell clients that batches finished: a client that then asks the
    // coordinator finds these results counted.
    if (!g->results.empty())
      self_->send(coordinator_, result_atom::value, std::move(g->results));
    for (auto& action : g->actions)
      action();
    log_milestones(done->milestones);
    if (g->promote_retries)
      after_promotion(done->promoted);
    if (flush_wanted_ || commits_.full())
      commit_group();
    dispatch();
  });
}

void fleet_manager_state::log_milestones(
  const std::vector<fleet_store::batch_milestone>& milestones) {
  for (const auto& m : milestones) {
    auto st = reader_->status(m.batch_id);
    if (!st)
      continue;
    if (!m.finished) {
      spdlog::info("batch {} started: {} tasks", m.batch_id, st->total);
      continue;
    }
    auto line = fmt::format("batch {} finished {}: {} completed, {} failed, {} cancelled of {} in {} ms",
                            m.batch_id, to_string(st->status), st->completed, st->failed,
                            st->cancelled, st->total, st->finished_at - st->created_at);
    if (st->status == batch_state::completed)
      spdlog::info("{}", line);
    else
      spdlog::warn("{}", line);
    notify_finished(*st);
  }
}

void fleet_manager_state::schedule_flush() {
  if (commits_.full()) {
    commit_group();
    return;
  }
  // With no delay the flush lands behind every message already queued: their changes share this
  // commit. With commit-delay, outcomes keep arriving and attempts keep starting meanwhile: a
  // bigger group per fsync.
  flush_timer_.arm(self_, std::chrono::milliseconds(opts_.commit_delay_ms), flush_atom::value);
}

void fleet_manager_state::queue(transition change) {
  commits_.queue(std::move(change));
}

void fleet_manager_state::after_commit(std::function<void()> action) {
  commits_.after_commit(std::move(action));
}

void fleet_manager_state::on_flush_message() {
  flush_timer_.fired();
  flush_retry_timer_.fired();
  if (commits_.in_flight() > 0) {
    // The writer is busy: changes keep collecting and go as one group when it is done.
    flush_wanted_ = true;
    return;
  }
  if (!commits_.has_work() && !storage_error_.empty()) {
    // Nothing waits to be written, so an empty transaction tells whether the file takes writes.
    write(nothing_to_write, [this](caf::error) { dispatch(); });
    return;
  }
  commit_group();
}

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

// -- retries --------------------------------------------------------------------

void fleet_manager_state::schedule_wakeup(int64_t due_ms) {
  if (wakeup_at_ && *wakeup_at_ <= due_ms)
    return; // an earlier wake-up will look again
  wakeup_at_ = due_ms;
  auto delay = std::max<int64_t>(0, due_ms - now_ms());
  self_->delayed_send(self_, std::chrono::milliseconds(delay), wakeup_atom::value);
}

void fleet_manager_state::on_wakeup() {
  wakeup_at_ = caf::none;
  // Promoting due retries rides with the next group commit: one fsync, not two.
  commits_.want_promotion();
  schedule_flush();
}

void fleet_manager_state::on_autoscale() {
  const auto& policy = opts_.autoscale;
  self_->delayed_send(self_, std::chrono::milliseconds(policy.interval_ms), autoscale_atom::value);
  auto st = reader_->stats();
  if (!st) {
    spdlog::error("autoscaling: cannot read the backlog: {}", error_text(st.error()));
    return;
  }
  auto now = now_ms();
  auto from = cfg_.max_concurrent_workers;
  auto running = static_cast<int64_t>(running_.size());
  // Idle: nothing waits and some of the limit goes unused.
  if (st->pending_tasks > 0 || running >= from)
    idle_since_ms_ = now;
  auto to = autoscale_target(policy, {st->pending_tasks, running, from, now - idle_since_ms_});
  if (to == from)
    return;
  cfg_.max_concurrent_workers = to;
  idle_since_ms_ = now; // one halving per idle period
  spdlog::info("autoscaling: max_concurrent_workers {} -> {} ({} tasks waiting, {} running)", from, to,
               st->pending_tasks, running);
  auto detail = fmt::format(R"({{"from":{},"to":{},"waiting":{},"running":{}}})", from, to,
                            st->pending_tasks, running);
  write([now, detail](fleet_store& store) { return store.log_event(now, event_kind::workers_autoscaled, {}, {}, detail); },
        [](caf::error err) {
          if (err)
            spdlog::error("autoscaling: cannot record the change: {}", error_text(err));
        });
  dispatch();
}

void fleet_manager_state::after_promotion(int64_t promoted) {
  if (promoted > 0)
    invalidate_ready();
  if (auto next = reader_->next_retry_due(); next && *next)
    schedule_wakeup(**next);
}

// -- fleet-nodes ----------------------------------------------------------------

task_type_check fleet_manager_state::type_check() const {
  return [this, local = opts_.registry->checker()](const task& t, const nlohmann::json& data) -> caf::error {
    if (opts_.registry->find(t.type) != nullptr || !nodes_.runs(t.type))
      return local(t, data);
    return caf::none; // a type only fleet-nodes run: the node checks the data
  };
}

caf::result<node_welcome> fleet_manager_state::join_node(const node_announcement& a,
                                                         const node_actor& handle) {
  if (!handle)
    return caf::make_error(errc::invalid_node, "a node joins with the handle of its node actor");
  if (auto err = node_table::validate(a))
    return err;
  if (draining_)
    return caf::make_error(errc::shutting_down, "fleetd is shutting down and takes no nodes");
  if (auto h = node_handles_.find(a.name); h != node_handles_.end()) {
    // The same process joins again after losing fleetd; another process may not take the name:
    // two of them would keep dropping each other.
    if (h->second.node() != handle.node())
      return caf::make_error(errc::node_name_taken,
                             fmt::format("another fleet-node process is joined as {}: choose another "
                                         "node.name, or wait until fleetd drops that one ({} ms "
                                         "without an answer to heartbeats)",
                                         a.name, opts_.node_timeout_ms));
    drop_node(a.name, "it joined again");
  }
  auto now = now_ms();
  nodes_.add(a, now);
  opts_.metrics->nodes.set(static_cast<int64_t>(nodes_.remote_count()) + 1);
  node_handles_.emplace(a.name, handle);
  self_->monitor(handle);
  spdlog::info("node {} joined: capacity {}, types {}", a.name, a.capacity, fmt::join(a.types, ","));
  schedule_node_tick();
  auto rp = self_->make_response_promise<node_welcome>();
  node_welcome welcome{opts_.node_heartbeat_ms, opts_.node_timeout_ms};
  write([now, detail = node_joined_detail(a)](fleet_store& store) {
          return store.log_event(now, event_kind::node_joined, {}, {}, detail);
        },
        [this, rp, welcome](caf::error err) mutable {
          if (err)
            rp.deliver(std::move(err));
          else
            rp.deliver(welcome);
          dispatch();
        });
  return rp;
}

std::vector<node_info> fleet_manager_state::nodes() const {
  return nodes_.list(now_ms());
}

void fleet_manager_state::drop_node(std::string name, const std::string& reason) {
  auto h = node_handles_.find(name);
  if (h == node_handles_.end())
    return;
  self_->demonitor(h->second.address());
  // A node that merely paused (stopped, slow network) learns it at once when it resumes.
  self_->send(h->second, dropped_atom::value, reason);
  node_handles_.erase(h);
  nodes_.remove(name);
  opts_.metrics->nodes.set(static_cast<int64_t>(nodes_.remote_count()) + 1);
  auto now = now_ms();
  int32_t interrupted = 0;
  for (auto i = running_.begin(); i != running_.end();) {
    auto& r = i->second;
    if (r.node != name) {
      ++i;
      continue;
    }
    queue(lost_attempt(r, now, fmt::format("node {} was dropped: {}", name, reason)));
    if (r.orphaned_before > 0)
      --suspects_running_;
    remember_finished(r, false, now);
    i = running_.erase(i);
    ++interrupted;
  }
  spdlog::warn("node {} dropped ({}): {} running attempts run again", name, reason, interrupted);
  auto detail = node_dropped_detail(name, reason, interrupted);
  write([now, detail](fleet_store& store) { return store.log_event(now, event_kind::node_dropped, {}, {}, detail); },
        [this](caf::error err) {
          if (err)
            spdlog::error("cannot record the dropped node: {}", error_text(err));
          // The interrupted attempts' tasks are pending again.
          invalidate_ready();
          dispatch();
        });
}

void fleet_manager_state::schedule_node_tick() {
  if (node_handles_.empty())
    return;
  node_tick_timer_.arm(self_, std::chrono::milliseconds(opts_.node_heartbeat_ms), node_tick_atom::value);
}

void fleet_manager_state::on_node_tick() {
  node_tick_timer_.fired();
  auto timeout = std::chrono::milliseconds(opts_.node_timeout_ms);
  for (const auto& [name, handle] : node_handles_) {
    // A late answer or failure for a node that has since been dropped (or replaced) changes nothing.
    auto stale = [this, name = name, generation = nodes_.generation(name)] {
      return nodes_.generation(name) != generation;
    };
    self_->request(handle, timeout, heartbeat_atom::value)
      .then(
        guarded([this, name = name, stale](int32_t) {
          if (!stale())
            nodes_.heartbeat(name, now_ms());
        }),
        guarded([this, name = name, stale](caf::error& err) {
          if (!stale())
            drop_node(name, err == caf::sec::request_timeout
                              ? fmt::format("no answer to a heartbeat within {} ms", opts_.node_timeout_ms)
                              : error_text(err));
        }));
  }
  schedule_node_tick();
}

// -- the API --------------------------------------------------------------------

caf::error fleet_manager_state::refuse_new_work() const {
  if (draining_)
    return caf::make_error(errc::shutting_down, "fleetd is shutting down and takes no new batches");
  if (!storage_error_.empty())
    return caf::make_error(errc::storage_unavailable,
                           fmt::format("the database cannot take writes ({}): fleetd takes no new batches "
                                       "until a write succeeds again",
                                       storage_error_));
  return caf::none;
}

caf::result<std::string> fleet_manager_state::submit(std::vector<task>& tasks, const std::string& key) {
  if (auto err = refuse_new_work())
    return err;
  if (auto err = validate_client_key(key, opts_.limits))
    return err;
  if (auto err = validate_batch(tasks, type_check(), opts_.limits))
    return err;
  auto now = now_ms();
  auto id = make_batch_id(now, rng_);
  auto n_tasks = static_cast<int64_t>(tasks.size());
  auto what = fmt::format("{} tasks", n_tasks);
  auto rp = self_->make_response_promise<std::string>();
  auto insert = [id, now, tasks = std::move(tasks)](fleet_store& store) -> caf::expected<int64_t> {
    if (auto err = store.insert_batch(id, tasks, now))
      return err;
    return static_cast<int64_t>(tasks.size());
  };
  write<stored_batch>(
    [id, key, limits = opts_.limits, insert = std::move(insert)](fleet_store& store) {
      return store_new_batch(store, id, key, limits, insert);
    },
    [this, rp, id, key, what](caf::expected<stored_batch> stored) mutable {
      after_submit(rp, std::move(stored), id, key, what);
    });
  return rp;
}

void fleet_manager_state::after_submit(caf::typed_response_promise<std::string> rp,
                                       caf::expected<stored_batch> stored, const std::string& id,
                                       const std::string& key, const std::string& what) {
  if (!stored) {
    rp.deliver(std::move(stored.error()));
    return;
  }
  if (!stored->existing.empty()) {
    spdlog::info("submit with key \"{}\": batch {} has it already; nothing stored", key, stored->existing);
    rp.deliver(stored->existing);
    return;
  }
  auto n_tasks = stored->tasks;
  spdlog::info("batch {} submitted with {}{}", id, what, key.empty() ? "" : fmt::format(" (key \"{}\")", key));
  opts_.metrics->batches_submitted.add();
  opts_.metrics->tasks_submitted.add(static_cast<uint64_t>(n_tasks));
  // New tasks may outrank the ones in the window.
  invalidate_ready();
  dispatch();
  rp.deliver(id);
}

caf::result<std::string> fleet_manager_state::open_upload() {
  if (auto err = refuse_new_work())
    return err;
  auto now = now_ms();
  auto id = "upload" + make_batch_id(now, rng_).substr(5); // "upload-<time>-<random>"
  auto rp = self_->make_response_promise<std::string>();
  write([id, now](fleet_store& store) { return store.open_upload(id, now); },
        reply_when_stored(rp, [id] { return id; }));
  return rp;
}

caf::result<int64_t> fleet_manager_state::upload_chunk(const std::string& upload_id,
                                                       std::vector<task>& tasks) {
  if (auto err = refuse_new_work())
    return err;
  if (auto err = validate_batch(tasks, type_check(), opts_.limits))
    return err;
  // Encoded here, not on the writer's thread: the writer is the busier of the two.
  auto job = [upload_id, chunk = encode_upload_chunk(tasks),
              limits = opts_.limits](fleet_store& store) -> caf::expected<int64_t> {
    auto n = store.stage_chunk(upload_id, chunk);
    if (!n)
      return n.error();
    if (auto err = validate_batch_size(static_cast<size_t>(*n), limits))
      return err;
    return *n;
  };
  auto rp = self_->make_response_promise<int64_t>();
  write<int64_t>(std::move(job), [rp](caf::expected<int64_t> total) mutable {
    if (total)
      rp.deliver(*total);
    else
      rp.deliver(std::move(total.error()));
  });
  return rp;
}

caf::result<std::string> fleet_manager_state::seal_upload(const std::string& upload_id,
                                                         const std::string& key) {
  if (auto err = refuse_new_work())
    return err;
  if (auto err = validate_client_key(key, opts_.limits))
    return err;
  auto now = now_ms();
  auto id = make_batch_id(now, rng_);
  auto insert = [upload_id, id, now](fleet_store& store) { return store.seal_upload(upload_id, id, now); };
  // Also the answer to a seal retried after its reply was lost: the upload is gone by now.
  auto discard = [upload_id](fleet_store& store) { return store.discard_upload(upload_id); };
  auto rp = self_->make_response_promise<std::string>();
  write<stored_batch>(
    [id, key, limits = opts_.limits, insert, discard](fleet_store& store) {
      return store_new_batch(store, id, key, limits, insert, discard);
    },
    [this, rp, id, upload_id, key](caf::expected<stored_batch> stored) mutable {
      auto answer = [this, rp, id, upload_id, key](caf::expected<stored_batch> stored) mutable {
        auto what = fmt::format("{} tasks (uploaded in chunks as {})", stored ? stored->tasks : 0, upload_id);
        after_submit(rp, std::move(stored), id, key, what);
      };
      if (stored || stored.error() != errc::duplicate_task_id) {
        answer(std::move(stored));
        return;
      }
      // Such an upload can never seal: its chunks go now, not at expiry, before the client hears.
      write([upload_id](fleet_store& store) { return store.discard_upload(upload_id); },
            [answer, err = stored.error()](caf::error) mutable { answer(std::move(err)); });
    });
  return rp;
}

// Queries read committed state only (changes waiting for the group commit are not durable yet),
// so they never force an fsync of their own.

caf::result<batch_status> fleet_manager_state::status(const std::string& batch_id) {
  auto st = reader_->status(batch_id);
  if (!st)
    return st.error();
  return std::move(*st);
}

caf::result<std::vector<task_result>> fleet_manager_state::results(const std::string& batch_id) {
  auto finished = reader_->finished_count(batch_id);
  if (!finished)
    return finished.error();
  if (*finished > opts_.max_unpaged_results)
    return caf::make_error(errc::invalid_batch,
                           fmt::format("batch {} has {} results, more than one answer carries ({}): "
                                       "page through them (batch_results with cursor and limit)",
                                       batch_id, *finished, opts_.max_unpaged_results));
  auto rs = reader_->results(batch_id, answer_bytes());
  if (!rs)
    return rs.error();
  return std::move(*rs);
}

caf::result<results_page> fleet_manager_state::results(const std::string& batch_id, int64_t cursor,
                                                      int32_t limit) {
  if (limit < 1 || limit > 10'000)
    return caf::make_error(errc::invalid_batch,
                           fmt::format("a results page holds 1 to 10000 tasks (got {})", limit));
  auto page = reader_->results(batch_id, cursor, limit, answer_bytes());
  if (!page)
    return page.error();
  return std::move(*page);
}

caf::result<dead_letter_page> fleet_manager_state::dead_letters(const std::string& batch_id, int64_t cursor,
                                                               int32_t limit) {
  if (limit < 1 || limit > 10'000)
    return caf::make_error(errc::invalid_batch,
                           fmt::format("a page of failed tasks holds 1 to 10000 (got {})", limit));
  if (!batch_id.empty())
    if (auto st = reader_->status(batch_id); !st)
      return st.error();
  auto page = reader_->dead_letters(batch_id, cursor, limit);
  if (!page)
    return page.error();
  return std::move(*page);
}

caf::result<int64_t> fleet_manager_state::replay(const std::string& batch_id, std::vector<std::string>& task_ids) {
  if (auto err = refuse_new_work())
    return err;
  if (task_ids.size() > opts_.limits.max_tasks_per_batch)
    return caf::make_error(errc::limit_exceeded, "more task ids than fleet.max-batch-tasks");
  auto now = now_ms();
  auto rp = self_->make_response_promise<int64_t>();
  write<int64_t>(
    [batch_id, ids = std::move(task_ids), now](fleet_store& store) { return store.replay(batch_id, ids, now); },
    [this, rp, batch_id](caf::expected<int64_t> replayed) mutable {
      if (!replayed) {
        rp.deliver(std::move(replayed.error()));
        return;
      }
      if (*replayed > 0) {
        spdlog::info("batch {}: {} failed tasks replayed", batch_id, *replayed);
        opts_.metrics->tasks_replayed.add(static_cast<uint64_t>(*replayed));
        invalidate_ready();
        dispatch();
      }
      rp.deliver(*replayed);
    });
  return rp;
}

caf::result<bool> fleet_manager_state::set_paused(const std::string& batch_id, bool paused) {
  auto now = now_ms();
  auto job = [batch_id, paused, now](fleet_store& store) {
    return batch_id.empty() ? store.set_fleet_paused(paused, now) : store.set_batch_paused(batch_id, paused, now);
  };
  auto rp = self_->make_response_promise<bool>();
  write<bool>(std::move(job), [this, rp, batch_id, paused](caf::expected<bool> changed) mutable {
    if (!changed) {
      rp.deliver(std::move(changed.error()));
      return;
    }
    if (*changed) {
      auto what = batch_id.empty() ? std::string{"the fleet"} : "batch " + batch_id;
      spdlog::info("{} {}", what, paused ? "paused: running attempts finish, no new ones start" : "resumed");
      if (batch_id.empty())
        fleet_paused_ = paused;
      invalidate_ready();
      dispatch();
    }
    rp.deliver(*changed);
  });
  return rp;
}

caf::result<batch_status> fleet_manager_state::subscribe(const std::string& batch_id) {
  auto who = caf::actor_cast<caf::actor>(self_->current_sender());
  if (!who)
    return caf::make_error(errc::invalid_batch, "only an actor can subscribe (it receives the notification)");
  constexpr size_t max_subscriptions = 10'000;
  if (subscriptions_ >= max_subscriptions)
    return caf::make_error(errc::limit_exceeded,
                           fmt::format("fleetd holds {} subscriptions already", max_subscriptions));
  batch_status now;
  if (!batch_id.empty()) {
    auto st = reader_->status(batch_id);
    if (!st)
      return st.error();
    // Finished already: the reply says so. A finish committed after this read is notified by the
    // continuation of its commit, which runs after this handler.
    if (st->finished_at != 0)
      return std::move(*st);
    now = std::move(*st);
    batch_subscribers_[batch_id].push_back(who);
  } else {
    all_subscribers_.push_back(who);
  }
  add_subscription(who);
  return now;
}

void fleet_manager_state::add_subscription(const caf::actor& who) {
  ++subscriptions_;
  // One monitor per actor, however many batches it waits for: a client that subscribes to every
  // batch it submits must not collect a monitor per batch for as long as it lives.
  if (subscription_holders_[who.address()]++ == 0)
    self_->monitor(who);
  publish_subscription_gauges();
}

void fleet_manager_state::end_subscription(const caf::actor& who) {
  --subscriptions_;
  auto i = subscription_holders_.find(who.address());
  if (i != subscription_holders_.end() && --i->second == 0) {
    self_->demonitor(who);
    subscription_holders_.erase(i);
  }
}

void fleet_manager_state::publish_subscription_gauges() {
  opts_.metrics->subscriptions.set(static_cast<int64_t>(subscriptions_));
  opts_.metrics->subscribers.set(static_cast<int64_t>(subscription_holders_.size()));
}

void fleet_manager_state::notify_finished(const batch_status& st) {
  if (auto i = batch_subscribers_.find(st.batch_id); i != batch_subscribers_.end()) {
    auto served = std::move(i->second);
    batch_subscribers_.erase(i);
    for (auto& who : served) {
      caf::anon_send(who, batch_done_atom::value, st);
      end_subscription(who);
    }
    publish_subscription_gauges();
  }
  for (auto& who : all_subscribers_)
    caf::anon_send(who, batch_done_atom::value, st);
}

bool fleet_manager_state::unsubscribe(const caf::actor_addr& who) {
  auto holder = subscription_holders_.find(who);
  if (holder == subscription_holders_.end())
    return false;
  subscriptions_ -= holder->second;
  subscription_holders_.erase(holder);
  auto held_by_who = [&](const caf::actor& x) { return x.address() == who; };
  std::erase_if(all_subscribers_, held_by_who);
  for (auto i = batch_subscribers_.begin(); i != batch_subscribers_.end();) {
    std::erase_if(i->second, held_by_who);
    i = i->second.empty() ? batch_subscribers_.erase(i) : std::next(i);
  }
  publish_subscription_gauges();
  return true;
}

caf::result<bool> fleet_manager_state::cancel(const std::string& batch_id) {
  auto now = now_ms();
  // Running attempts stop now: taken out of running_, a late outcome records nothing.
  std::vector<transition> ends;
  for (auto i = running_.begin(); i != running_.end();) {
    if (i->second.batch_id != batch_id) {
      ++i;
      continue;
    }
    auto& r = i->second;
    ends.emplace_back(stopped_attempt(r, now, attempt_outcome::cancelled, "cancelled",
                                      task_disposition::cancelled));
    release(r, true);
    remember_finished(r, false, now);
    i = running_.erase(i);
  }
  auto stopped = ends.size();
  // Until the cancel commits its tasks still read as pending: none may start meanwhile.
  cancelling_.insert(batch_id);
  invalidate_ready();
  struct cancel_written {
    std::optional<int64_t> cancelled; ///< waiting tasks cancelled; none: unknown or finished batch
    std::vector<fleet_store::batch_milestone> milestones;
  };
  auto job = [batch_id, now, ends](fleet_store& store) -> caf::expected<cancel_written> {
    auto waiting = store.cancel_batch(batch_id, now);
    if (!waiting)
      return waiting.error();
    // A batch with running attempts is neither finished nor cancelled: `ends` is empty otherwise.
    auto err = *waiting ? store.record(ends) : caf::none;
    auto milestones = store.take_milestones();
    if (err)
      return err;
    return cancel_written{*waiting, std::move(milestones)};
  };
  auto rp = self_->make_response_promise<bool>();
  write<cancel_written>(std::move(job), [this, rp, batch_id, stopped,
                                         ends = std::move(ends)](caf::expected<cancel_written> done) mutable {
    cancelling_.erase(batch_id);
    invalidate_ready();
    if (!done) {
      auto err = std::move(done.error());
      // The batch is not cancelled, but its attempts were stopped: record them as interrupted (as a
      // drain does), so that their tasks run again instead of staying `running` in the file until
      // a restart. The group commit writes them once the store takes writes again.
      for (const auto& change : ends) {
        auto end = std::get<attempt_ended>(change);
        end.outcome = attempt_outcome::interrupted;
        end.next = task_disposition::requeue;
        end.error = fmt::format("stopped by a cancel that could not be stored: {}", error_text(err));
        queue(std::move(end));
      }
      if (!ends.empty())
        schedule_flush();
      rp.deliver(std::move(err));
    } else {
      if (done->cancelled) {
        spdlog::info("batch {} cancelled ({} running attempts stopped)", batch_id, stopped);
        opts_.metrics->tasks_cancelled.add(static_cast<uint64_t>(*done->cancelled) + stopped);
      }
      log_milestones(done->milestones);
      rp.deliver(done->cancelled.has_value());
    }
    dispatch();
  });
  return rp;
}

caf::result<fleet_config> fleet_manager_state::reconfigure(const config_update& update) {
  if (auto next = apply(cfg_, update); !next)
    return next.error();
  auto rp = self_->make_response_promise<fleet_config>();
  write([update, now = now_ms()](fleet_store& store) { return store.save_config_overrides(update, now); },
        [this, rp, update](caf::error err) mutable {
          if (err) {
            rp.deliver(std::move(err));
            return;
          }
          // Applied once stored, in the order updates came: each field is checked on its own, so
          // an update that was valid when it came is valid now.
          auto next = apply(cfg_, update);
          if (!next) {
            rp.deliver(next.error());
            return;
          }
          cfg_ = *next;
          spdlog::info("configuration updated: max {} workers, timeout {} ms, retries {} (max {}), backoff {} ms "
                       "x {} up to {} ms",
                       cfg_.max_concurrent_workers, cfg_.worker_timeout_ms,
                       cfg_.retry_failed_tasks ? "on" : "off", cfg_.max_retries, cfg_.backoff_base_ms,
                       cfg_.backoff_factor, cfg_.backoff_cap_ms);
          dispatch();
          rp.deliver(cfg_);
        });
  return rp;
}

caf::expected<fleet_stats> fleet_manager_state::current_stats() {
  auto st = reader_->stats();
  if (!st)
    return st.error();
  st->active_workers = static_cast<int32_t>(running_.size());
  st->max_concurrent_workers = cfg_.max_concurrent_workers;
  st->paused = fleet_paused_;
  return st;
}

caf::result<fleet_stats> fleet_manager_state::stats() {
  auto st = current_stats();
  if (!st)
    return st.error();
  return std::move(*st);
}

caf::result<fleet_overview> fleet_manager_state::overview(int32_t batches, int32_t failures) {
  if (batches < 0 || batches > 1000 || failures < 0 || failures > 1000)
    return caf::make_error(errc::invalid_batch,
                           fmt::format("an overview lists 0 to 1000 batches and failures (got {} and {})",
                                       batches, failures));
  fleet_overview out;
  auto st = current_stats();
  if (!st)
    return st.error();
  auto recent = reader_->recent_batches(batches);
  if (!recent)
    return recent.error();
  auto failed = reader_->recent_failures(failures);
  if (!failed)
    return failed.error();
  out.stats = std::move(*st);
  out.batches = std::move(*recent);
  out.workers = workers();
  out.failures = std::move(*failed);
  out.nodes = nodes();
  out.storage_error = storage_error_;
  out.at = now_ms();
  return out;
}

std::vector<worker_info> fleet_manager_state::workers() const {
  std::vector<worker_info> out;
  out.reserve(running_.size() + recent_.size());
  for (const auto& [seq, r] : running_)
    out.push_back(worker_info{r.worker_id, r.batch_id, r.task_id, r.attempt,
                              r.start_committed ? worker_status::active : worker_status::spawning,
                              r.spawned_at, 0, r.node});
  std::sort(out.begin(), out.end(),
            [](const worker_info& x, const worker_info& y) { return x.spawned_at < y.spawned_at; });
  out.insert(out.end(), recent_.begin(), recent_.end());
  return out;
}

// -- shutdown -------------------------------------------------------------------

caf::result<int32_t> fleet_manager_state::drain(int64_t timeout_ms) {
  if (!draining_)
    spdlog::info("draining: no new work; waiting up to {} ms for {} running attempts", timeout_ms,
                 running_.size());
  draining_ = true;
  if (drain_pending_)
    return caf::make_error(errc::shutting_down, "a drain is already in progress");
  if (running_.empty()) {
    auto rp = self_->make_response_promise<int32_t>();
    write(nothing_to_write, reply_when_stored(rp, [] { return int32_t{0}; }));
    return rp;
  }
  drain_pending_ = true;
  drain_promise_ = self_->make_response_promise<int32_t>();
  self_->delayed_send(self_, std::chrono::milliseconds(std::max<int64_t>(0, timeout_ms)),
                      drain_atom::value);
  return drain_promise_;
}

void fleet_manager_state::on_drain_deadline() {
  if (!drain_pending_)
    return;
  auto now = now_ms();
  auto stopped = static_cast<int32_t>(running_.size());
  for (auto& [seq, r] : running_) {
    queue(stopped_attempt(r, now, attempt_outcome::interrupted, "fleetd stopped during the attempt",
                          task_disposition::requeue));
  }
  for (auto& [seq, r] : running_)
    release(r, true);
  running_.clear();
  spdlog::warn("drain timeout: {} attempts interrupted; they run again on the next start", stopped);
  // Should the commit fail, the attempts are recovered as interrupted on the next start all the same.
  write(nothing_to_write, [this, stopped](caf::error err) {
    if (err)
      spdlog::error("cannot record the interrupted attempts: {}", error_text(err));
    finish_drain(stopped);
  });
}

void fleet_manager_state::finish_drain(int32_t interrupted) {
  if (!drain_pending_)
    return;
  drain_pending_ = false;
  drain_promise_.deliver(interrupted);
}

// -- behaviour ------------------------------------------------------------------

fleet_manager_actor::behavior_type
fleet_manager(fleet_manager_state::self_pointer self, fleet_manager_options opts) {
  if (auto err = self->state.init(self, std::move(opts))) {
    spdlog::error("fleet manager cannot start: {}", error_text(err));
    self->quit(std::move(err));
    return fleet_manager_actor::behavior_type::make_empty_behavior();
  }
  self->set_down_handler(guarded([self](caf::down_msg& msg) { self->state.on_down(msg); }));
  auto from_self = [self] { return self->current_sender() == self->ctrl(); };
  return {
    guarded([self](submit_atom, std::vector<task>& tasks) { return self->state.submit(tasks); }),
    guarded([self](submit_atom, std::vector<task>& tasks, const std::string& key) {
      return self->state.submit(tasks, key);
    }),
    guarded([self](upload_open_atom) { return self->state.open_upload(); }),
    guarded([self](upload_chunk_atom, const std::string& id, std::vector<task>& tasks) {
      return self->state.upload_chunk(id, tasks);
    }),
    guarded([self](upload_seal_atom, const std::string& id) { return self->state.seal_upload(id); }),
    guarded([self](upload_seal_atom, const std::string& id, const std::string& key) {
      return self->state.seal_upload(id, key);
    }),
    guarded([self](status_atom, const std::string& id) { return self->state.status(id); }),
    guarded([self](results_atom, const std::string& id) { return self->state.results(id); }),
    guarded([self](results_atom, const std::string& id, int64_t cursor, int32_t limit) {
      return self->state.results(id, cursor, limit);
    }),
    guarded([self](cancel_atom, const std::string& id) { return self->state.cancel(id); }),
    guarded([self](subscribe_atom, const std::string& id) { return self->state.subscribe(id); }),
    guarded([self](pause_atom, const std::string& id) { return self->state.set_paused(id, true); }),
    guarded([self](resume_atom, const std::string& id) { return self->state.set_paused(id, false); }),
    guarded([self](failed_atom, const std::string& id, int64_t cursor, int32_t limit) {
      return self->state.dead_letters(id, cursor, limit);
    }),
    guarded([self](replay_atom, const std::string& id, std::vector<std::string>& task_ids) {
      return self->state.replay(id, task_ids);
    }),
    guarded([self](scale_atom, int32_t n) -> caf::result<fleet_config> {
      if (auto err = validate_worker_count(n))
        return err;
      config_update update;
      update.max_concurrent_workers = n;
      return self->state.reconfigure(update);
    }),
    guarded([self](stats_atom) { return self->state.stats(); }),
    guarded([self](workers_atom) { return self->state.workers(); }),
    guarded([self](overview_atom, int32_t batches, int32_t failures) { return self->state.overview(batches, failures); }),
    guarded([self](update_config_atom, const config_update& update) {
      return self->state.reconfigure(update);
    }),
    guarded([self](get_config_atom) { return self->state.config(); }),
    guarded([self](limits_atom) { return self->state.limits(); }),
    guarded([self](coordinator_atom) { return self->state.coordinator(); }),
    guarded([self](node_join_atom, const node_announcement& a, const node_actor& handle) {
      return self->state.join_node(a, handle);
    }),
    guarded([self](nodes_atom) { return self->state.nodes(); }),
    guarded([self, from_self](node_tick_atom) {
      if (from_self())
        self->state.on_node_tick();
    }),
    guarded([self, from_self](wakeup_atom) {
      if (from_self())
        self->state.on_wakeup();
    }),
    guarded([self, from_self](flush_atom) {
      if (from_self())
        self->state.on_flush_message();
    }),
    guarded([self](drain_atom, int64_t timeout_ms) -> caf::result<int32_t> {
      if (!sent_from_local_node(self))
        return caf::make_error(errc::shutting_down, "only fleetd itself may drain the fleet");
      return self->state.drain(timeout_ms);
    }),
    guarded([self, from_self](drain_atom) {
      if (from_self())
        self->state.on_drain_deadline();
    }),
    guarded([self, from_self](tick_atom) {
      if (from_self())
        self->state.on_tick();
    }),
    guarded([self](committed_atom) { self->state.on_committed(); }),
    guarded([self, from_self](autoscale_atom) {
      if (from_self())
        self->state.on_autoscale();
    }),
  };
}

fleet_manager_actor spawn_fleet_manager(caf::actor_system& sys, fleet_manager_options opts,
                                        bool detached) {
  if (detached)
    return sys.spawn<caf::detached>(fleet_manager, std::move(opts));
  return sys.spawn(fleet_manager, std::move(opts));
}

} // namespace fleet
