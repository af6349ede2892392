// Retention: finished batches older than fleet.retain-finished and events older than
// fleet.retain-events are deleted in small steps, each a transaction of its own queued behind the
// group commits (so no commit waits long for it), then free pages go back to the file system.

#include "actors/fleet_manager.hpp"

#include "actors/fleet_manager_internal.hpp"
#include "fleet/archive.hpp"
#include "fleet/log.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace fleet {

namespace {

/// Free pages returned per step: 4 MiB with the default page size.
constexpr int64_t reclaim_pages_per_step = 1024;

} // namespace

void fleet_manager_state::on_prune_tick() {
  self_->delayed_send(self_, std::chrono::milliseconds(opts_.prune_interval_ms), prune_tick_atom::value);
  if (!pruning_)
    start_prune();
}

caf::result<prune_report> fleet_manager_state::prune_now() {
  auto rp = self_->make_response_promise<prune_report>();
  prune_waiters_.push_back(rp);
  if (!requester_.empty())
    prune_requester_ = requester_; // also for a pass the timer began: what is left of it is asked for
  if (!pruning_)
    start_prune();
  return rp;
}

void fleet_manager_state::start_prune() {
  pruning_ = true;
  prune_pass_ = {};
  prune_started_ = std::chrono::steady_clock::now();
  if (opts_.retain_finished_ms <= 0 && opts_.retain_events_ms <= 0) {
    finish_prune(caf::none); // keeps everything: an empty report
    return;
  }
  prune_next();
}

void fleet_manager_state::prune_next() {
  if (stopping_ || drain_.draining() || !storage_.writable()) {
    finish_prune(caf::none); // what was done stays done; the next pass goes on
    return;
  }
  fleet_store::retention_policy policy{opts_.retain_finished_ms, opts_.retain_events_ms, std::nullopt, {}};
  auto now = now_ms();
  if (archiver_ && opts_.retain_finished_ms > 0) {
    // No batch goes before its archive is written: find the next one, archive it (off the writer
    // and the manager), then let the steps delete it.
    auto next = reader_->oldest_finished(now - opts_.retain_finished_ms);
    if (!next) {
      finish_prune(std::move(next.error()));
      return;
    }
    policy.only_batch = std::string{};
    if (*next) {
      const auto& [batch_id, finished_at] = **next;
      if (archived_.first != batch_id || archived_.second != finished_at) {
        archive_next(batch_id, finished_at);
        return;
      }
      policy.only_batch = batch_id;
      policy.archive = archive_file_name(batch_id, finished_at);
    }
  }
  write_now<fleet_store::prune_progress>(
    [policy, now, rows = opts_.prune_step_rows, who = prune_requester_](fleet_store& store) {
      return store.as_requested_by(who, [&] { return store.prune_step(now, policy, rows); });
    },
    [this](caf::expected<fleet_store::prune_progress> step) {
      if (!step) {
        finish_prune(std::move(step.error()));
        return;
      }
      prune_pass_.batches += step->batches;
      prune_pass_.tasks += step->tasks;
      prune_pass_.events += step->events;
      opts_.metrics->pruned_batches.add(static_cast<uint64_t>(step->batches));
      opts_.metrics->pruned_tasks.add(static_cast<uint64_t>(step->tasks));
      opts_.metrics->pruned_events.add(static_cast<uint64_t>(step->events));
      if (step->more)
        prune_next();
      else
        reclaim_next();
    });
}

void fleet_manager_state::archive_next(const std::string& batch_id, int64_t finished_at) {
  self_->request(archiver_, caf::infinite, archive_atom::value, batch_id, finished_at)
    .then(
      [this, batch_id, finished_at](const std::string& path, int64_t tasks, int64_t bytes) {
        archived_ = {batch_id, finished_at};
        ++prune_pass_.archived;
        opts_.metrics->archived_batches.add();
        opts_.metrics->archived_bytes.add(static_cast<uint64_t>(bytes));
        spdlog::debug("retention: batch {} archived to {} ({} tasks, {} bytes)", batch_id, path, tasks, bytes);
        prune_next();
      },
      [this, batch_id](caf::error& err) {
        // Nothing of the batch is deleted; the next pass tries again.
        auto code = err.category() == error_category ? static_cast<errc>(err.code()) : errc::storage_unavailable;
        finish_prune(caf::make_error(code, fmt::format("batch {} is not pruned: its archive could not be written: {}",
                                                       batch_id, error_text(err))));
      });
}

caf::behavior archiver(caf::event_based_actor*, archive_fn archive) {
  return {
    [archive](archive_atom, const std::string& batch_id,
              int64_t finished_at) -> caf::result<std::string, int64_t, int64_t> {
      auto written = archive(batch_id, finished_at);
      if (!written)
        return std::move(written.error());
      return {written->path, written->tasks, written->bytes};
    },
  };
}

void fleet_manager_state::reclaim_next() {
  if (stopping_) {
    finish_prune(caf::none);
    return;
  }
  write_now<int64_t>([](fleet_store& store) { return store.reclaim_space(reclaim_pages_per_step); },
                     [this](caf::expected<int64_t> freed) {
                       if (!freed) {
                         finish_prune(std::move(freed.error()));
                         return;
                       }
                       prune_pass_.bytes_freed += *freed;
                       opts_.metrics->pruned_bytes.add(static_cast<uint64_t>(*freed));
                       if (*freed > 0)
                         reclaim_next();
                       else
                         finish_prune(caf::none);
                     });
}

void fleet_manager_state::finish_prune(caf::error err) {
  pruning_ = false;
  prune_requester_.clear();
  prune_pass_.ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now()
                                                                         - prune_started_)
                     .count();
  if (err)
    spdlog::error("retention: a pruning step failed, the next pass tries again: {}", error_text(err));
  else if (prune_pass_.batches > 0 || prune_pass_.events > 0)
    spdlog::info("retention: pruned {} finished batches ({} tasks; {} archived) and {} events, {} bytes returned, "
                 "in {} ms",
                 prune_pass_.batches, prune_pass_.tasks, prune_pass_.archived, prune_pass_.events,
                 prune_pass_.bytes_freed, prune_pass_.ms);
  for (auto& rp : prune_waiters_) {
    if (err)
      rp.deliver(err);
    else
      rp.deliver(prune_pass_);
  }
  prune_waiters_.clear();
}

} // namespace fleet
