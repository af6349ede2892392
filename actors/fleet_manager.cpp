#include "actors/fleet_manager.hpp"

#include "actors/coordinator.hpp"
#include "actors/origin.hpp"
#include "fleet/error.hpp"
#include "fleet/ids.hpp"
#include "fleet/log.hpp"
#include "fleet/retry_policy.hpp"

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

} // namespace

// -- set-up and tear-down -------------------------------------------------------

caf::error fleet_manager_state::init(self_pointer self, fleet_manager_options opts) {
  self_ = self;
  opts_ = std::move(opts);
  store_ = opts_.store;
  if (!store_ || !opts_.registry || !opts_.hooks)
    return caf::make_error(errc::invalid_config, "fleet manager needs a store, a registry and hooks");
  rng_.seed(opts_.random_seed != 0 ? opts_.random_seed : std::random_device{}());
  // Wall time anchors stored timestamps; the actor clock measures from there, so that the
  // deterministic test clock drives both timers and stored times.
  epoch_ms_ = wall_clock_ms();
  clock_origin_ = self->clock().now();
  auto now = now_ms();
  if (auto err = validate(opts_.initial_config))
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
  int64_t interrupted = 0;
  auto err = flush([&]() -> caf::error {
    auto n = store_->recover_interrupted(now);
    if (!n)
      return n.error();
    interrupted = *n;
    auto expired = store_->expire_uploads(now - opts_.upload_expiry_ms);
    if (!expired)
      return expired.error();
    if (*expired > 0)
      spdlog::warn("dropped {} uploads that were never sealed", *expired);
    return caf::none;
  });
  if (err)
    return err;
  auto unfinished = store_->unfinished_tasks();
  if (!unfinished)
    return unfinished.error();
  if (interrupted > 0)
    spdlog::warn("{} attempts were interrupted by the last shutdown and will run again", interrupted);
  spdlog::info("fleet manager ready: {} unfinished tasks to resume, max {} workers", *unfinished,
               cfg_.max_concurrent_workers);
  auto totals = store_->result_totals();
  if (!totals)
    return totals.error();
  coordinator_ = self->spawn<caf::linked>(fleet::coordinator, *totals);
  // Promotes due retries and starts work once the behaviour is in place.
  self->send(self, wakeup_atom::value);
  return caf::none;
}

fleet_manager_state::~fleet_manager_state() {
  if (self_ == nullptr)
    return;
  // Outcomes already reported are kept; attempts still running are recovered on the next start.
  if (auto err = flush())
    spdlog::error("final commit failed: {}", error_text(err));
  if (drain_pending_)
    drain_promise_.deliver(static_cast<int32_t>(running_.size()));
  for (auto& [seq, r] : running_)
    if (r.worker)
      caf::anon_send_exit(r.worker, caf::exit_reason::user_shutdown);
}

int64_t fleet_manager_state::now_ms() const {
  auto elapsed = self_->clock().now() - clock_origin_;
  return epoch_ms_ + std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
}

// -- group commit ---------------------------------------------------------------

caf::error fleet_manager_state::flush(const std::function<caf::error()>& extra) {
  if (pending_.empty() && !extra)
    return caf::none;
  auto write = [&]() -> caf::error {
    auto tx = store_->transaction();
    if (auto err = tx.begin())
      return err;
    if (auto err = store_->record(pending_))
      return err;
    if (extra)
      if (auto err = extra())
        return err;
    return tx.commit();
  };
  auto err = write();
  auto milestones = store_->take_milestones(); // dropped with a rolled-back transaction
  if (err)
    return err;
  pending_.clear();
  uncommitted_.clear();
  auto actions = std::move(after_commit_);
  after_commit_.clear();
  for (auto& action : actions)
    action();
  log_milestones(milestones);
  return caf::none;
}

void fleet_manager_state::log_milestones(
  const std::vector<fleet_store::batch_milestone>& milestones) {
  for (const auto& m : milestones) {
    auto st = store_->status(m.batch_id);
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
  }
}

void fleet_manager_state::schedule_flush() {
  if (pending_.size() >= opts_.max_pending_transitions) {
    if (auto err = flush())
      spdlog::error("commit failed, will retry: {}", error_text(err));
    return;
  }
  if (!flush_scheduled_) {
    flush_scheduled_ = true;
    if (opts_.commit_delay_ms <= 0) {
      // Lands behind every message already queued: their changes share this commit.
      self_->send(self_, flush_atom::value);
    } else {
      // Meanwhile outcomes keep arriving and attempts keep starting: a bigger group per fsync.
      self_->delayed_send(self_, std::chrono::milliseconds(opts_.commit_delay_ms), flush_atom::value);
    }
  }
}

void fleet_manager_state::queue(transition change) {
  std::visit([this](const auto& x) { uncommitted_.insert(x.seq); }, change);
  pending_.push_back(std::move(change));
}

void fleet_manager_state::after_commit(std::function<void()> action) {
  after_commit_.push_back(std::move(action));
}

void fleet_manager_state::on_flush_message() {
  flush_scheduled_ = false;
  flush_retry_scheduled_ = false;
  if (auto err = flush()) {
    spdlog::error("commit failed, will retry in 1 s: {}", error_text(err));
    if (!flush_retry_scheduled_) {
      flush_retry_scheduled_ = true;
      self_->delayed_send(self_, std::chrono::seconds(1), flush_atom::value);
    }
    return;
  }
  dispatch();
}

// -- dispatch -------------------------------------------------------------------

void fleet_manager_state::invalidate_ready() {
  ready_.clear();
  ready_exhausted_ = false;
}

bool fleet_manager_state::refill() {
  // Tasks with uncommitted changes still read as pending in the database: skip them rather
  // than commit first, so that a refill does not cut the group commit short.
  auto window = std::max<size_t>(64, 2 * static_cast<size_t>(cfg_.max_concurrent_workers));
  auto limit = window + uncommitted_.size();
  auto rows = store_->next_runnable(limit);
  if (!rows) {
    spdlog::error("cannot read runnable tasks: {}", error_text(rows.error()));
    return false;
  }
  ready_exhausted_ = rows->size() < limit;
  for (auto& row : *rows)
    if (uncommitted_.count(row.seq) == 0 && running_.count(row.seq) == 0)
      ready_.push_back(std::move(row));
  return true;
}

void fleet_manager_state::dispatch() {
  if (draining_)
    return;
  // An attempt that fails at once (no worker) reports back into dispatch: the running loop
  // picks up the freed slot, so re-entry is refused rather than recursing once per task.
  if (dispatching_)
    return;
  dispatching_ = true;
  auto guard = caf::detail::make_scope_guard([this] { dispatching_ = false; });
  while (running_.size() < static_cast<size_t>(cfg_.max_concurrent_workers)) {
    if (ready_.empty() && (ready_exhausted_ || !refill() || ready_.empty()))
      return;
    auto next = std::move(ready_.front());
    ready_.pop_front();
    start_attempt(std::move(next));
  }
}

void fleet_manager_state::start_attempt(runnable_task next) {
  auto now = now_ms();
  running_attempt r;
  r.seq = next.seq;
  r.batch_id = next.batch_id;
  r.task_id = next.spec.id;
  r.attempt = next.attempts + 1;
  r.counted_before = next.attempts - next.interruptions;
  r.worker_id = make_worker_id(epoch_ms_, ++worker_seq_);
  r.spawned_at = now;
  r.deadline = now + cfg_.worker_timeout_ms;
  queue(attempt_started{r.seq, r.batch_id, r.task_id, r.attempt, r.worker_id, now});
  after_commit([this, seq = r.seq, attempt = r.attempt] {
    if (auto i = running_.find(seq); i != running_.end() && i->second.attempt == attempt)
      i->second.start_committed = true;
  });
  auto worker = opts_.hooks->get_worker_instance(self_->home_system(), *opts_.registry,
                                                 r.worker_id, next.spec);
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
  opts_.hooks->execute_task_on_worker(self_, *worker, next.spec, attempt, timeout,
                                      [this, seq, attempt](caf::expected<task_outcome> outcome) {
                                        on_outcome(seq, attempt, std::move(outcome));
                                      });
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
    end.result = std::move(outcome->result);
    end.next = task_disposition::succeeded;
  } else {
    if (!outcome && outcome.error() == caf::sec::request_timeout) {
      end.outcome = attempt_outcome::timed_out;
      end.error = fmt::format("worker timed out after {} ms", cfg_.worker_timeout_ms);
    } else {
      end.outcome = attempt_outcome::failed;
      end.error = outcome ? outcome->error : error_text(outcome.error());
      if (end.error.empty())
        end.error = "task failed";
    }
    auto counted = r.counted_before + 1;
    if (should_retry(cfg_, counted)) {
      std::uniform_real_distribution<double> unit{0.0, 1.0};
      end.next = task_disposition::retry;
      end.not_before = now + backoff_delay_ms(cfg_, counted, unit(rng_));
    } else {
      end.next = task_disposition::failed;
    }
    // A worker that timed out or failed may still be busy (an exec child): stop it.
    if (r.worker)
      self_->send_exit(r.worker, caf::exit_reason::user_shutdown);
  }
  remember_finished(r, succeeded, now);
  if (is_terminal(end.next)) {
    task_result result{r.task_id, succeeded, end.result, end.error, attempt, end.duration_ms};
    after_commit([this, worker_id = r.worker_id, result = std::move(result)] {
      self_->send(coordinator_, result_atom::value, worker_id, result);
    });
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

void fleet_manager_state::on_down(const caf::down_msg& msg) {
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
                   success ? worker_status::completed : worker_status::failed, r.spawned_at, at};
  recent_.push_front(std::move(info));
  while (recent_.size() > opts_.recent_workers_kept)
    recent_.pop_back();
}

// -- timeouts -------------------------------------------------------------------

void fleet_manager_state::schedule_tick() {
  if (tick_scheduled_ || running_.empty())
    return;
  tick_scheduled_ = true;
  // One sweep instead of one timer per attempt; a timeout fires at most a quarter of
  // worker_timeout (and never more than 1 s) late.
  auto interval = std::clamp<int64_t>(cfg_.worker_timeout_ms / 4, 1, 1000);
  self_->delayed_send(self_, std::chrono::milliseconds(interval), tick_atom::value);
}

void fleet_manager_state::on_tick() {
  tick_scheduled_ = false;
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
  int64_t promoted = 0;
  auto err = flush([&]() -> caf::error {
    auto n = store_->promote_due_retries(now_ms());
    if (!n)
      return n.error();
    promoted = *n;
    return caf::none;
  });
  if (err) {
    spdlog::error("cannot promote due retries, will retry in 1 s: {}", error_text(err));
    schedule_wakeup(now_ms() + 1000);
    return;
  }
  if (promoted > 0)
    invalidate_ready();
  if (auto next = store_->next_retry_due(); next && *next)
    schedule_wakeup(**next);
  dispatch();
}

// -- the API --------------------------------------------------------------------

caf::error fleet_manager_state::refuse_when_draining() const {
  if (draining_)
    return caf::make_error(errc::shutting_down, "fleetd is shutting down and takes no new batches");
  return caf::none;
}

caf::result<std::string> fleet_manager_state::submit(std::vector<task>& tasks) {
  if (auto err = refuse_when_draining())
    return err;
  if (auto err = validate_batch(tasks, opts_.registry->checker(), opts_.limits))
    return err;
  auto now = now_ms();
  auto id = make_batch_id(now, rng_);
  if (auto err = flush([&] { return store_->insert_batch(id, tasks, now); }))
    return err;
  spdlog::info("batch {} submitted with {} tasks", id, tasks.size());
  // New tasks may outrank the ones in the window.
  invalidate_ready();
  dispatch();
  return id;
}

caf::result<std::string> fleet_manager_state::open_upload() {
  if (auto err = refuse_when_draining())
    return err;
  auto now = now_ms();
  auto id = "upload" + make_batch_id(now, rng_).substr(5); // "upload-<time>-<random>"
  if (auto err = flush([&] { return store_->open_upload(id, now); }))
    return err;
  return id;
}

caf::result<int64_t> fleet_manager_state::upload_chunk(const std::string& upload_id,
                                                       std::vector<task>& tasks) {
  if (auto err = refuse_when_draining())
    return err;
  if (auto err = validate_batch(tasks, opts_.registry->checker(), opts_.limits))
    return err;
  int64_t total = 0;
  auto err = flush([&]() -> caf::error {
    auto n = store_->stage_tasks(upload_id, tasks);
    if (!n)
      return n.error();
    total = *n;
    return validate_batch_size(static_cast<size_t>(total), opts_.limits);
  });
  if (err)
    return err;
  return total;
}

caf::result<std::string> fleet_manager_state::seal_upload(const std::string& upload_id) {
  if (auto err = refuse_when_draining())
    return err;
  auto now = now_ms();
  auto id = make_batch_id(now, rng_);
  int64_t n = 0;
  auto err = flush([&]() -> caf::error {
    auto sealed = store_->seal_upload(upload_id, id, now);
    if (!sealed)
      return sealed.error();
    n = *sealed;
    return caf::none;
  });
  if (err)
    return err;
  spdlog::info("batch {} submitted with {} tasks (uploaded in chunks as {})", id, n, upload_id);
  invalidate_ready();
  dispatch();
  return id;
}

// Queries read committed state only (changes waiting for the group commit are not durable yet),
// so they never force an fsync of their own.

caf::result<batch_status> fleet_manager_state::status(const std::string& batch_id) {
  auto st = store_->status(batch_id);
  if (!st)
    return st.error();
  return std::move(*st);
}

caf::result<std::vector<task_result>> fleet_manager_state::results(const std::string& batch_id) {
  auto finished = store_->finished_count(batch_id);
  if (!finished)
    return finished.error();
  if (*finished > opts_.max_unpaged_results)
    return caf::make_error(errc::invalid_batch,
                           fmt::format("batch {} has {} results, more than one answer carries ({}): "
                                       "page through them (batch_results with cursor and limit)",
                                       batch_id, *finished, opts_.max_unpaged_results));
  auto rs = store_->results(batch_id);
  if (!rs)
    return rs.error();
  return std::move(*rs);
}

caf::result<results_page> fleet_manager_state::results(const std::string& batch_id, int64_t cursor,
                                                      int32_t limit) {
  if (limit < 1 || limit > 10'000)
    return caf::make_error(errc::invalid_batch,
                           fmt::format("a results page holds 1 to 10000 tasks (got {})", limit));
  auto page = store_->results(batch_id, cursor, limit);
  if (!page)
    return page.error();
  return std::move(*page);
}

caf::result<bool> fleet_manager_state::cancel(const std::string& batch_id) {
  auto now = now_ms();
  bool cancelled = false;
  std::vector<int64_t> stopped;
  auto err = flush([&]() -> caf::error {
    auto ok = store_->cancel_batch(batch_id, now);
    if (!ok)
      return ok.error();
    cancelled = *ok;
    if (!cancelled)
      return caf::none;
    for (const auto& [seq, r] : running_) {
      if (r.batch_id != batch_id)
        continue;
      auto end = stopped_attempt(r, now, attempt_outcome::cancelled, "cancelled",
                                 task_disposition::cancelled);
      if (auto err = store_->record(end))
        return err;
      stopped.push_back(seq);
    }
    return caf::none;
  });
  if (err)
    return err;
  for (auto seq : stopped) {
    auto i = running_.find(seq);
    if (i->second.worker)
      self_->send_exit(i->second.worker, caf::exit_reason::user_shutdown);
    remember_finished(i->second, false, now);
    running_.erase(i);
  }
  if (cancelled) {
    spdlog::info("batch {} cancelled ({} running attempts stopped)", batch_id, stopped.size());
    invalidate_ready();
    dispatch();
  }
  return cancelled;
}

caf::result<fleet_config> fleet_manager_state::reconfigure(const config_update& update) {
  auto next = apply(cfg_, update);
  if (!next)
    return next.error();
  if (auto err = flush([&] { return store_->save_config_overrides(update, now_ms()); }))
    return err;
  cfg_ = *next;
  spdlog::info("configuration updated: max {} workers, timeout {} ms, retries {} (max {})",
               cfg_.max_concurrent_workers, cfg_.worker_timeout_ms,
               cfg_.retry_failed_tasks ? "on" : "off", cfg_.max_retries);
  dispatch();
  return cfg_;
}

caf::result<fleet_stats> fleet_manager_state::stats() {
  auto st = store_->stats();
  if (!st)
    return st.error();
  st->active_workers = static_cast<int32_t>(running_.size());
  st->max_concurrent_workers = cfg_.max_concurrent_workers;
  return std::move(*st);
}

std::vector<worker_info> fleet_manager_state::workers() const {
  std::vector<worker_info> out;
  out.reserve(running_.size() + recent_.size());
  for (const auto& [seq, r] : running_)
    out.push_back(worker_info{r.worker_id, r.batch_id, r.task_id, r.attempt,
                              r.start_committed ? worker_status::active : worker_status::spawning,
                              r.spawned_at, 0});
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
    if (auto err = flush())
      return err;
    return int32_t{0};
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
  if (auto err = flush()) {
    // Left open, the attempts are recovered as interrupted on the next start all the same.
    spdlog::error("cannot record the interrupted attempts: {}", error_text(err));
  }
  for (auto& [seq, r] : running_)
    if (r.worker)
      self_->send_exit(r.worker, caf::exit_reason::user_shutdown);
  running_.clear();
  spdlog::warn("drain timeout: {} attempts interrupted; they run again on the next start", stopped);
  finish_drain(stopped);
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
  self->set_down_handler([self](caf::down_msg& msg) { self->state.on_down(msg); });
  auto from_self = [self] { return self->current_sender() == self->ctrl(); };
  return {
    [self](submit_atom, std::vector<task>& tasks) { return self->state.submit(tasks); },
    [self](upload_open_atom) { return self->state.open_upload(); },
    [self](upload_chunk_atom, const std::string& id, std::vector<task>& tasks) {
      return self->state.upload_chunk(id, tasks);
    },
    [self](upload_seal_atom, const std::string& id) { return self->state.seal_upload(id); },
    [self](status_atom, const std::string& id) { return self->state.status(id); },
    [self](results_atom, const std::string& id) { return self->state.results(id); },
    [self](results_atom, const std::string& id, int64_t cursor, int32_t limit) {
      return self->state.results(id, cursor, limit);
    },
    [self](cancel_atom, const std::string& id) { return self->state.cancel(id); },
    [self](scale_atom, int32_t n) -> caf::result<fleet_config> {
      if (auto err = validate_worker_count(n))
        return err;
      config_update update;
      update.max_concurrent_workers = n;
      return self->state.reconfigure(update);
    },
    [self](stats_atom) { return self->state.stats(); },
    [self](workers_atom) { return self->state.workers(); },
    [self](update_config_atom, const config_update& update) {
      return self->state.reconfigure(update);
    },
    [self](get_config_atom) { return self->state.config(); },
    [self](coordinator_atom) { return self->state.coordinator(); },
    [self, from_self](wakeup_atom) {
      if (from_self())
        self->state.on_wakeup();
    },
    [self, from_self](flush_atom) {
      if (from_self())
        self->state.on_flush_message();
    },
    [self](drain_atom, int64_t timeout_ms) -> caf::result<int32_t> {
      if (!sent_from_local_node(self))
        return caf::make_error(errc::shutting_down, "only fleetd itself may drain the fleet");
      return self->state.drain(timeout_ms);
    },
    [self, from_self](drain_atom) {
      if (from_self())
        self->state.on_drain_deadline();
    },
    [self, from_self](tick_atom) {
      if (from_self())
        self->state.on_tick();
    },
  };
}

fleet_manager_actor spawn_fleet_manager(caf::actor_system& sys, fleet_manager_options opts,
                                        bool detached) {
  if (detached)
    return sys.spawn<caf::detached>(fleet_manager, std::move(opts));
  return sys.spawn(fleet_manager, std::move(opts));
}

} // namespace fleet
