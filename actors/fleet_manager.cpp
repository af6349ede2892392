#include "actors/fleet_manager.hpp"

#include "actors/coordinator.hpp"
#include "actors/exception_guard.hpp"
#include "actors/fleet_manager_internal.hpp"
#include "actors/origin.hpp"
#include "fleetd/error.hpp"
#include "fleet/archive.hpp"
#include "fleet/ids.hpp"
#include "fleet/json_codec.hpp"
#include "fleet/log.hpp"
#include "fleet/manager/start_up.hpp"
#include "fleet/retry_policy.hpp"
#include "fleet/text.hpp"
#include "fleet/time_text.hpp"
#include "fleet/upload_part.hpp"

#include <caf/actor_system.hpp>
#include <caf/detail/scope_guard.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>
#include <caf/spawn_options.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <utility>

namespace fleet {

using namespace manager_detail;


// -- set-up and tear-down -------------------------------------------------------

caf::error fleet_manager_state::init(self_pointer self, fleet_manager_options opts) {
  self_ = self;
  opts_ = std::move(opts);
  commits_ = group_commit{opts_.max_pending_transitions, opts_.max_waiting_groups * opts_.max_pending_transitions,
                          opts_.max_waiting_bytes};
  store_ = opts_.store;
  if (!store_ || !opts_.registry || !opts_.hooks || !opts_.metrics)
    return caf::make_error(errc::invalid_config, "fleet manager needs a store, a registry, hooks and metrics");
  rng_.seed(opts_.random_seed != 0 ? opts_.random_seed : std::random_device{}());
  // Wall time anchors stored timestamps; the actor clock measures from there, so that the
  // deterministic test clock drives both timers and stored times.
  epoch_ms_ = read_wall_clock();
  clock_origin_ = self->clock().now();
  auto now = now_ms();
  clock_since_ms_ = now;
  if (auto err = validate(opts_.initial_config))
    return err;
  if (opts_.user_autoscale)
    opts_.autoscale.enabled = true;
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
  if (!opts_.archive_dir.empty()) {
    if (auto err = prepare_archive_dir(opts_.archive_dir))
      return err;
    // A test's manager runs everything on the test scheduler; fleetd's archiver has a thread.
    auto archive = opts_.archive;
    if (!archive)
      archive = [db = store_->file(), dir = opts_.archive_dir](const std::string& batch_id, int64_t finished_at) {
        return archive_batch(db, dir, batch_id, finished_at);
      };
    archiver_ = opts_.writer_thread ? self->spawn<caf::detached + caf::linked>(archiver, std::move(archive))
                                    : self->spawn<caf::linked>(archiver, std::move(archive));
  }
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
  // The first write of every start, through the same path as every other: nothing else happens
  // before it committed.
  auto journal = opts_.journal ? opts_.journal->previous_run() : std::vector<start_journal::entry>{};
  start_up_input in;
  in.now = now;
  in.max_interruptions = opts_.max_interruptions;
  in.backoff_cap_ms = cfg_.backoff_cap_ms;
  in.starts = std::move(journal);
  in.orphans = opts_.orphans;
  in.hold_node_attempts = opts_.node_rejoin_ms > 0;
  in.upload_expiry_before = now - opts_.upload_expiry_ms;
  if (opts_.run)
    in.run = start_up_input::run_start{opts_.run->pid, opts_.run->version,
                                       run_started_detail(opts_.run->version, opts_.run->pid, opts_.run->options,
                                                          cfg_, *overrides)};
  auto started_up = run_start_up(*writer_, in);
  if (!started_up)
    return started_up.error();
  const auto& started = *started_up;
  run_id_ = started.run;
  const auto& recovered = started.recovered;
  if (started.expired_uploads > 0)
    spdlog::warn("dropped {} uploads that were never sealed", started.expired_uploads);
  if (started.retries_pulled_in > 0)
    spdlog::warn("{} retries were to wait longer than any backoff (scheduled while the clock was ahead): each "
                 "waits at most backoff-cap from now",
                 started.retries_pulled_in);
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
  spdlog::info("fleet manager ready: {} unfinished tasks to resume, max {} workers", started.unfinished_tasks,
               cfg_.max_concurrent_workers);
  fleet_paused_ = started.fleet_paused;
  if (fleet_paused_)
    spdlog::warn("the fleet is paused (fleetctl resume): no attempt starts");
  opts_.store.reset();
  nodes_ = node_membership<node_actor>(opts_.registry->types(), opts_.local_capacity);
  attempts_ = attempt_table{opts_.recent_workers_kept};
  opts_.metrics->nodes.set(1);
  coordinator_ = self->spawn<caf::linked>(fleet::coordinator, started.totals, fleet_manager_actor{self});
  if (auto err = load_queues(now))
    return err;
  hold_for_rejoin(recovered.held);
  if (auto err = load_schedules(now))
    return err;
  // Promotes due retries and starts work once the behaviour is in place.
  self->send(self, wakeup_atom::value);
  self->delayed_send(self, std::chrono::milliseconds(opts_.prune_interval_ms), prune_tick_atom::value);
  if (opts_.autoscale.enabled) {
    idle_since_ms_ = now;
    self->delayed_send(self, std::chrono::milliseconds(opts_.autoscale.interval_ms), autoscale_atom::value);
  }
  arm_clock_check();
  return caf::none;
}

fleet_manager_state::~fleet_manager_state() {
  if (self_ == nullptr)
    return;
  // Outcomes already reported are kept; attempts still running are recovered on the next start.
  stopping_ = true;
  if (writer_) {
    // A node attempt's start still held is written: the next start holds it for its node's rejoin.
    release_held_starts(true); // the commit below takes them
    commit_group();
    if (run_id_ > 0 && !storage_.damaged()) {
      // After the last group: the stop is the run's last word. Attempts still running run again
      // at the next start.
      writer_->post([run = run_id_, now = now_ms(), running = static_cast<int64_t>(attempts_.size()),
                     steps = clock_steps_ms_](fleet_store& store) {
        return store.record_run_stop(run, now, running, steps);
      });
    }
    writer_.reset(); // finishes every posted write
  }
  if (drain_.answer())
    drain_promise_.deliver(static_cast<int32_t>(attempts_.size()));
  // Attempts on fleet-nodes stop there when the nodes lose fleetd.
  attempts_.for_each([](const running_attempt& r) {
    if (r.worker && !r.shared_worker)
      caf::anon_send_exit(caf::actor_cast<caf::actor>(r.worker), caf::exit_reason::user_shutdown);
  });
  // Idle or not: a shared worker never quits by itself.
  for (const auto& [type, worker] : shared_workers_)
    caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
}

int64_t fleet_manager_state::now_ms() const {
  auto elapsed = self_->clock().now() - clock_origin_;
  return epoch_ms_ + clock_steps_ms_ + std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
}

// -- the wall clock -------------------------------------------------------------

int64_t fleet_manager_state::read_wall_clock() const {
  return opts_.wall_clock ? opts_.wall_clock() : wall_clock_ms();
}

void fleet_manager_state::arm_clock_check() {
  if (opts_.clock_check_ms > 0 && !stopping_)
    clock_timer_.arm(self_, std::chrono::milliseconds(opts_.clock_check_ms), clock_check_atom::value);
}

void fleet_manager_state::on_clock_check() {
  clock_timer_.fired();
  auto expected = now_ms();
  auto wall = read_wall_clock();
  // Both clocks are slewed alike by NTP: only a step (or a leap second) parts them.
  if (std::abs(wall - expected) >= opts_.clock_step_tolerance_ms)
    follow_clock_step(expected, wall - expected);
  arm_clock_check();
}

void fleet_manager_state::follow_clock_step(int64_t from, int64_t by_ms) {
  clock_steps_ms_ += by_ms;
  auto since = std::exchange(clock_since_ms_, from + by_ms);
  // What the manager measures in memory (attempt timeouts and durations, rates, idle uploads and
  // workers) moves with the clock; wall-clock intents (a delayed task's run_at, a cron slot) stay.
  attempts_.shift_clock(by_ms);
  queues_.shift_clock(by_ms);
  upload_quota_.shift_clock(by_ms);
  idle_since_ms_ += by_ms;
  spdlog::warn("the wall clock stepped by {} ms (fleetd expected {}, it read {}): stored times follow it, "
               "retries waiting for their backoff move with it",
               by_ms, format_rfc3339_ms(from), format_rfc3339_ms(from + by_ms));
  write<int64_t>([from, by_ms, since](fleet_store& store) { return store.record_clock_step(from, by_ms, since); },
                 [this, by_ms](caf::expected<int64_t> moved) {
                   if (!moved) {
                     spdlog::error("cannot record the clock step of {} ms: {}", by_ms, error_text(moved.error()));
                     return;
                   }
                   // Delayed tasks came nearer or went further; cron slots too.
                   wakeup_at_ = caf::none;
                   wake_for_next_due();
                   schedule_tick_at_ = caf::none;
                   arm_schedule_timer();
                 });
}

// -- group commit ---------------------------------------------------------------

void fleet_manager_state::post(write_pipeline::job job, continuation then, write_pipeline::kind kind) {
  continuations_.push_back({std::move(then), kind});
  writer_->post(std::move(job), kind);
}

void fleet_manager_state::write(write_pipeline::job job, continuation then) {
  if (storage_.damaged()) {
    // Writing into a malformed b-tree can spread the damage: nothing more goes to the file.
    then(caf::make_error(errc::database_damaged, storage_.error()));
    return;
  }
  // In order: a cancel must see the retries and ends queued before it.
  commit_group();
  if (!requester_.empty())
    job = [who = requester_, job = std::move(job)](fleet_store& store) {
      return store.as_requested_by(who, [&] { return job(store); });
    };
  post(std::move(job), std::move(then));
}

void fleet_manager_state::note_write_outcome(const caf::error& err) {
  switch (storage_.note(err)) {
    case storage_health::change::none:
      return;
    case storage_health::change::damaged:
      spdlog::error("{}: fleetd writes nothing more into it, takes no new batches and starts no attempts. "
                    "Stop fleetd: at its next start it checks the file, refuses it and says how to recover. "
                    "Everything committed before stays as it was.",
                    storage_.error());
      opts_.metrics->storage_writable.set(0);
      return;
    case storage_health::change::unavailable:
      spdlog::error("the database cannot take writes ({}): no new batches and no new attempts until a "
                    "write succeeds; trying again every second. Nothing committed is lost.",
                    storage_.error());
      opts_.metrics->storage_writable.set(0);
      schedule_flush_retry();
      return;
    case storage_health::change::still_unavailable:
      schedule_flush_retry();
      return;
    case storage_health::change::recovered:
      spdlog::info("the database takes writes again: resuming");
      opts_.metrics->storage_writable.set(1);
      return;
  }
}

void fleet_manager_state::schedule_flush_retry() {
  flush_retry_timer_.arm(self_, std::chrono::seconds(1), flush_atom::value);
}

void fleet_manager_state::on_committed() {
  for (auto& err : writer_->take_outcomes()) {
    auto [then, kind] = std::move(continuations_.front());
    continuations_.pop_front();
    if (kind == write_pipeline::kind::prerequisite && err && !refused_for_storage(err))
      // A group commit that fails for another reason (a lock another program holds, a
      // constraint) records nothing either: attempts started meanwhile would run unrecorded.
      note_write_outcome(caf::make_error(errc::storage_unavailable,
                                         fmt::format("a group commit failed: {}", error_text(err))));
    else
      note_write_outcome(err);
    if (holds_back(kind, err))
      writes_refused_ = true;
    // One by one: an exception must not cost the continuations after it their outcomes.
    try {
      then(std::move(err));
    } catch (...) {
      // Logged there; a continuation has nobody to answer with the error.
      (void)report_handler_exception("the continuation of a write", std::current_exception());
    }
  }
  if (writes_refused_ && continuations_.empty()) {
    // Every job posted before the refusal is back: the next group writes what they held, first.
    writes_refused_ = false;
    writer_->resume();
    schedule_flush_retry();
  }
}

void fleet_manager_state::commit_group() {
  flush_wanted_ = false;
  if (storage_.damaged() || writes_refused_)
    return;
  auto taken = commits_.take();
  if (!taken)
    return;
  auto g = std::make_shared<group_commit::group>(std::move(*taken));
  struct written {
    std::vector<fleet_store::batch_milestone> milestones;
    fleet_store::promotion promoted;
    bool released = false; ///< successes released dependents: the window must look again
  };
  auto job = [g, promote_at = now_ms(), slice = opts_.promotion_slice](fleet_store& store) -> caf::expected<written> {
    written out;
    auto recorded = store.record(g->changes);
    if (!recorded)
      return recorded.error();
    out.milestones = std::move(*recorded);
    out.released = store.take_released();
    if (g->promote_retries) {
      auto n = store.promote_due(promote_at, slice);
      if (!n)
        return n.error();
      out.promoted = *n;
    }
    return out;
  };
  // A later group may end an attempt that this one starts: if this one fails, so must they.
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
    // A released task may come before the window's position (a task behind it in the file).
    if (done->released)
      invalidate_ready();
    if (commits_.in_flight() == 0 && (flush_wanted_ || commits_.full()))
      commit_group();
    dispatch();
  }, write_pipeline::kind::prerequisite);
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
    auto line = fmt::format("batch {} finished {}: {} succeeded, {} failed, {} cancelled of {} in {} ms",
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
    if (commits_.due())
      commit_group();
    else
      flush_wanted_ = true; // goes the moment the group being written commits
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
  if (!commits_.has_work() && !storage_.writable()) {
    // Nothing waits to be written, so an empty transaction tells whether the file takes writes.
    write(nothing_to_write, [this](caf::error) { dispatch(); });
    return;
  }
  commit_group();
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
  auto running = static_cast<int64_t>(attempts_.size());
  // Idle: nothing waits and some of the limit goes unused.
  if (st->pending_tasks > 0 || running >= from)
    idle_since_ms_ = now;
  autoscale_input in{st->pending_tasks, running, from, now - idle_since_ms_};
  auto to = autoscale_target(policy, in);
  if (opts_.user_autoscale) {
    // The user's policy: what it throws changes nothing; its answer stays within the bounds.
    auto wanted = catching([&]() -> caf::expected<int32_t> { return opts_.user_autoscale(in); }, "it");
    if (!wanted) {
      spdlog::error("autoscaling: the user's policy failed, the limit stays: {}", error_text(wanted.error()));
      return;
    }
    to = std::clamp(*wanted, policy.min_workers, policy.max_workers);
  }
  if (to == from)
    return;
  cfg_.max_concurrent_workers = to;
  idle_since_ms_ = now; // one halving per idle period
  spdlog::info("autoscaling: max_concurrent_workers {} -> {} ({} tasks waiting, {} running)", from, to,
               st->pending_tasks, running);
  auto detail = fmt::format(R"({{"from":{},"to":{},"waiting":{},"running":{},"policy":"{}"}})", from, to,
                            st->pending_tasks, running, opts_.user_autoscale ? "hook" : "built-in");
  config_update stored;
  stored.max_concurrent_workers = to;
  // Stored like scale_workers, so that a restart starts from the limit in force.
  write([now, detail, stored](fleet_store& store) -> caf::error {
          if (auto err = store.save_config_overrides(stored, now, false))
            return err;
          return store.log_event(now, event_kind::workers_autoscaled, {}, {}, detail);
        },
        [](caf::error err) {
          if (err)
            spdlog::error("autoscaling: cannot record the change: {}", error_text(err));
        });
  dispatch();
}

void fleet_manager_state::after_promotion(const fleet_store::promotion& promoted) {
  if (promoted.promoted > 0)
    invalidate_ready();
  if (promoted.more) {
    schedule_wakeup(now_ms()); // the next slice of due delayed tasks, in the next group
    return;
  }
  wake_for_next_due();
}

void fleet_manager_state::wake_for_next_due() {
  auto next = reader_->next_due();
  if (!next)
    spdlog::error("cannot read when the next retry or delayed task is due: {}", error_text(next.error()));
  else if (*next)
    schedule_wakeup(**next);
}

// -- shutdown -------------------------------------------------------------------

caf::result<int32_t> fleet_manager_state::drain(int64_t timeout_ms) {
  if (!drain_.draining())
    spdlog::info("draining: no new work; waiting up to {} ms for {} running attempts", timeout_ms,
                 attempts_.size());
  switch (drain_.begin(attempts_.size())) {
    case drain_state::start::already_waiting:
      return caf::make_error(errc::shutting_down, "a drain is already in progress");
    case drain_state::start::answer_now: {
      auto rp = self_->make_response_promise<int32_t>();
      write(nothing_to_write, reply_when_stored(rp, [] { return int32_t{0}; }));
      return rp;
    }
    case drain_state::start::wait:
      break;
  }
  drain_promise_ = self_->make_response_promise<int32_t>();
  self_->delayed_send(self_, std::chrono::milliseconds(std::max<int64_t>(0, timeout_ms)),
                      drain_deadline_atom::value);
  return drain_promise_;
}

void fleet_manager_state::on_drain_deadline() {
  if (!drain_.waiting())
    return;
  auto now = now_ms();
  auto stopped = attempts_.take_if([](const running_attempt&) { return true; });
  for (const auto& r : stopped) {
    queue_end(r, stopped_attempt_end(r, now, attempt_outcome::interrupted, "fleetd stopped during the attempt",
                                     task_disposition::requeue));
    release(r, true);
  }
  auto interrupted = static_cast<int32_t>(stopped.size());
  spdlog::warn("drain timeout: {} attempts interrupted; they run again on the next start", interrupted);
  // Should the commit fail, the attempts are recovered as interrupted on the next start all the same.
  write(nothing_to_write, [this, interrupted](caf::error err) {
    if (err)
      spdlog::error("cannot record the interrupted attempts: {}", error_text(err));
    finish_drain(interrupted);
  });
}

void fleet_manager_state::finish_drain(int32_t interrupted) {
  if (drain_.answer())
    drain_promise_.deliver(interrupted);
}

} // namespace fleet
