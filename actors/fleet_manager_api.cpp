#include "actors/fleet_manager.hpp"
#include "actors/fleet_manager_internal.hpp"
#include "actors/exception_guard.hpp"
#include "actors/origin.hpp"
#include "fleet/dependency_graph.hpp"
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
#include <map>

namespace fleet {

using namespace manager_detail;

// -- the API --------------------------------------------------------------------

caf::error fleet_manager_state::refuse_new_work() const {
  if (drain_.draining())
    return caf::make_error(errc::shutting_down, "fleetd is shutting down and takes no new batches");
  if (!storage_.writable())
    return caf::make_error(errc::storage_unavailable,
                           fmt::format("the database cannot take writes ({}): fleetd takes no new batches "
                                       "until a write succeeds again",
                                       storage_.error()));
  return caf::none;
}

caf::result<std::string> fleet_manager_state::submit(std::vector<task>& tasks, const std::string& key) {
  if (auto err = refuse_new_work())
    return err;
  if (auto err = validate_client_key(key, opts_.limits))
    return err;
  if (auto err = validate_batch(tasks, type_check(), opts_.limits))
    return err;
  if (auto err = validate_dependencies(tasks))
    return err;
  if (auto err = check_queues(tasks))
    return err;
  auto now = now_ms();
  if (auto err = validate_start_times(tasks, now, opts_.limits))
    return err;
  // When the first of its delayed tasks is due (none: every task may start now), known here, so
  // that the wake-up after the commit needs no read.
  std::optional<int64_t> first_due;
  for (const auto& t : tasks)
    if (auto at = start_time(t, now); at > now)
      first_due = std::min(first_due.value_or(at), at);
  auto id = make_batch_id(now, rng_);
  auto n_tasks = static_cast<int64_t>(tasks.size());
  auto what = fmt::format("{} tasks", n_tasks);
  auto rp = self_->make_response_promise<std::string>();
  // The writer reads the tasks, and after the commit the manager takes them into the windows.
  auto batch = std::make_shared<std::vector<task>>(std::move(tasks));
  write<stored_batch>(
    [id, key, now, limits = opts_.limits, batch](fleet_store& store) {
      return store_new_batch(store, id, key, limits, *batch, now);
    },
    [this, rp, id, key, what, first_due, batch, now,
     reads = window_reads_](caf::expected<stored_batch> stored) mutable {
      auto stored_new = stored && stored->existing.empty();
      after_submit(rp, std::move(stored), id, key, what, std::move(batch), now, reads);
      if (stored_new && first_due)
        schedule_wakeup(*first_due);
    });
  return rp;
}

void fleet_manager_state::after_submit(caf::typed_response_promise<std::string> rp,
                                       caf::expected<stored_batch> stored, const std::string& id,
                                       const std::string& key, const std::string& what,
                                       std::shared_ptr<std::vector<task>> tasks, int64_t now,
                                       uint64_t window_reads_at_post) {
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
  rp.deliver(id);
  if (tasks)
    offer_fresh(id, *tasks, stored->first_seq, now, window_reads_ != window_reads_at_post);
  else
    invalidate_ready(); // new tasks may outrank the ones in the windows
  dispatch();
}

caf::result<std::string> fleet_manager_state::open_upload() {
  if (auto err = refuse_new_work())
    return err;
  auto now = now_ms();
  auto id = "upload" + make_batch_id(now, rng_).substr(5); // "upload-<time>-<random>"
  if (auto err = claim_upload_place(id, now))
    return err;
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
  if (auto err = validate_dependencies(tasks, false))
    return err;
  if (auto err = check_queues(tasks))
    return err;
  if (auto err = validate_start_times(tasks, now_ms(), opts_.limits))
    return err;
  upload_quota_.touch(upload_id, now_ms());
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
  upload_quota_.close(upload_id); // sealed, or refused for good: either way no longer open for its client
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
        auto stored_new = stored && stored->existing.empty();
        after_submit(rp, std::move(stored), id, key, what);
        if (stored_new)
          wake_for_next_due(); // its delayed tasks, if it has any (the chunks were not kept here)
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
    return caf::make_error(errc::invalid_argument,
                           fmt::format("a results page holds 1 to 10000 tasks (got {})", limit));
  auto page = reader_->results(batch_id, cursor, limit, answer_bytes());
  if (!page)
    return page.error();
  return std::move(*page);
}

caf::result<dead_letter_page> fleet_manager_state::dead_letters(const std::string& batch_id, int64_t cursor,
                                                               int32_t limit) {
  if (limit < 1 || limit > 10'000)
    return caf::make_error(errc::invalid_argument,
                           fmt::format("a page of failed tasks holds 1 to 10000 (got {})", limit));
  if (!batch_id.empty())
    if (auto st = reader_->status(batch_id); !st)
      return st.error();
  auto page = reader_->dead_letters(batch_id, cursor, limit);
  if (!page)
    return page.error();
  return std::move(*page);
}

caf::result<task_page> fleet_manager_state::task_rows(const std::string& batch_id, int64_t cursor, int32_t limit) {
  if (limit < 1 || limit > 10'000)
    return caf::make_error(errc::invalid_argument, fmt::format("a page of tasks holds 1 to 10000 tasks (got {})", limit));
  auto page = reader_->task_rows(batch_id, cursor, limit);
  if (!page)
    return page.error();
  // The store has progress as of the last flush (a second ago at most); the attempts have it now.
  std::map<std::string, const running_attempt*> running;
  attempts_.for_each([&](const running_attempt& r) {
    if (r.batch_id == batch_id)
      running.emplace(r.task_id, &r);
  });
  for (auto& row : page->items)
    if (auto i = running.find(row.task_id); i != running.end() && i->second->progress >= 0) {
      row.progress = i->second->progress;
      row.note = i->second->note;
    }
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

caf::result<bool> fleet_manager_state::record_request(const std::string& batch_id, const std::string& detail_json) {
  auto now = now_ms();
  auto job = [batch_id, detail_json, now](fleet_store& store) -> caf::expected<bool> {
    if (auto err = store.log_event(now, event_kind::api_request, batch_id, {}, detail_json))
      return err;
    return true;
  };
  auto rp = self_->make_response_promise<bool>();
  write<bool>(std::move(job), [rp](caf::expected<bool> stored) mutable {
    if (stored)
      rp.deliver(*stored);
    else
      rp.deliver(std::move(stored.error()));
  });
  return rp;
}

caf::result<fleet_config> fleet_manager_state::reconfigure(const config_update& update) {
  if (auto next = apply(cfg_, update); !next)
    return next.error();
  auto rp = self_->make_response_promise<fleet_config>();
  write([update, now = now_ms()](fleet_store& store) { return store.save_config_overrides(update, now); },
        [this, rp, update](caf::error err) mutable { config_stored(std::move(err), update, rp, "updated"); });
  return rp;
}

caf::result<fleet_config> fleet_manager_state::reset_config(const std::vector<std::string>& names) {
  if (names.empty())
    return caf::make_error(errc::invalid_argument, "name the settings to reset (e.g. max-workers)");
  if (names.size() > config_fields().size() * 2)
    return caf::make_error(errc::invalid_argument, "too many names");
  // The values fleetd started with: its config file (or the defaults).
  config_update file_values;
  for (const auto& name : names) {
    auto value = get_field(opts_.initial_config, name);
    if (!value)
      return value.error();
    if (auto err = set_field(file_values, name, *value))
      return err;
  }
  // The file's value together with the other settings in force must be valid (a backoff base from
  // the file above a cap set at runtime is not): checked before anything is stored.
  if (auto next = apply(cfg_, file_values); !next)
    return next.error();
  auto rp = self_->make_response_promise<fleet_config>();
  write([file_values, now = now_ms()](fleet_store& store) { return store.reset_config_overrides(file_values, now); },
        [this, rp, file_values](caf::error err) mutable {
          config_stored(std::move(err), file_values, rp, "reset to the config file");
        });
  return rp;
}

void fleet_manager_state::config_stored(caf::error err, const config_update& update,
                                        caf::typed_response_promise<fleet_config> rp, const char* what) {
  if (err) {
    rp.deliver(std::move(err));
    return;
  }
  // Applied once stored, in the order updates came: each field is checked on its own, so an
  // update that was valid when it came is valid now.
  auto next = apply(cfg_, update);
  if (!next) {
    rp.deliver(next.error());
    return;
  }
  cfg_ = *next;
  std::vector<std::string> fields;
  for (const auto& [field, value] : set_fields(update))
    fields.push_back(fmt::format("{}={}", field.option, to_string(value)));
  spdlog::info("configuration {} ({}): max {} workers, timeout {} ms, retries {} (max {}), backoff {} ms x {} up "
               "to {} ms",
               what, fmt::join(fields, ", "), cfg_.max_concurrent_workers, cfg_.worker_timeout_ms,
               cfg_.retry_failed_tasks ? "on" : "off", cfg_.max_retries, cfg_.backoff_base_ms, cfg_.backoff_factor,
               cfg_.backoff_cap_ms);
  dispatch();
  rp.deliver(cfg_);
}

caf::expected<fleet_stats> fleet_manager_state::current_stats() {
  auto st = reader_->stats();
  if (!st)
    return st.error();
  st->active_workers = static_cast<int32_t>(attempts_.size());
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
    return caf::make_error(errc::invalid_argument,
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
  out.storage_error = storage_.error();
  out.at = now_ms();
  return out;
}

std::vector<worker_info> fleet_manager_state::workers() const {
  return attempts_.workers();
}

} // namespace fleet
