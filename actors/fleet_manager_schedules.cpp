// Recurring schedules: at each slot the manager submits the schedule's template as a batch. The
// batch, the schedule's `handled_until` and the events are one transaction, so a slot fires at
// most once whatever crashes; the manager keeps each schedule's next slot and one timer for the
// earliest.

#include "actors/fleet_manager.hpp"

#include "actors/fleet_manager_internal.hpp"
#include "fleet/dependency_graph.hpp"
#include "fleet/ids.hpp"
#include "fleet/json_text.hpp"
#include "fleet/log.hpp"
#include "fleet/text.hpp"
#include "fleet/time_text.hpp"

#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

namespace fleet {

using namespace manager_detail;
using json = nlohmann::json;

namespace {

/// The timer looks at least this often, so that a step of the wall clock is noticed.
constexpr int64_t max_schedule_sleep_ms = 60'000;
/// After a firing that could not be written, the next try.
constexpr int64_t schedule_retry_ms = 1'000;

/// What a firing did, as committed.
struct firing {
  std::optional<schedule_row> row; ///< none: the schedule was removed meanwhile
  std::string batch_id;            ///< the batch the slot made (or that had its key already)
  bool new_batch = false;
  int64_t tasks = 0;
  std::string skipped; ///< why the due slot did not fire
  bool stale = false;  ///< someone else dealt with these slots (or paused it) first
};

/// A stored change of a schedule: the row after it, and whether it changed anything.
struct schedule_change {
  schedule_row row;
  bool changed = false;
  bool added = false;  ///< a new schedule
  std::string changes; ///< of a definition: what differs from the stored one
};

caf::error unknown_schedule(const std::string& name) {
  return caf::make_error(errc::unknown_schedule,
                         fmt::format("no schedule is named \"{}\" (fleetctl schedule list)", printable(name)));
}

json timing_detail(const schedule_row& row) {
  json out{{"schedule", row.name}, {"source", row.source}};
  if (row.every_ms != 0)
    out["every"] = format_duration_ms(row.every_ms);
  else
    out["cron"] = row.cron;
  if (!row.time_zone.empty())
    out["tz"] = row.time_zone;
  return out;
}

/// Stores a definition: a new schedule, or (`replace`) a changed one, which keeps its history and
/// counts its slots from `now` on.
caf::expected<schedule_change> store_definition(fleet_store& store, const schedule_row& definition, bool replace,
                                                int64_t now) {
  auto found = store.schedule(definition.name);
  if (!found)
    return found.error();
  schedule_change out;
  if (!*found) {
    out.row = definition;
    out.row.created_at = out.row.updated_at = out.row.handled_until = now;
    out.changed = out.added = true;
    if (auto err = store.save_schedule(out.row))
      return err;
    if (auto err = store.log_event(now, event_kind::schedule_added, {}, {}, dump_json(timing_detail(out.row))))
      return err;
    return out;
  }
  if (!replace)
    return caf::make_error(errc::schedule_exists,
                           fmt::format("a schedule named \"{}\" exists already (remove it first, or replace it)",
                                       definition.name));
  out.row = **found;
  auto before = out.row;
  out.row.cron = definition.cron;
  out.row.time_zone = definition.time_zone;
  out.row.every_ms = definition.every_ms;
  out.row.tasks_json = definition.tasks_json;
  out.row.missed = definition.missed;
  out.row.overlap = definition.overlap;
  out.row.source = definition.source;
  auto changes = definition_changes(before, out.row);
  if (before.source != out.row.source)
    changes += fmt::format("{}source {} -> {}", changes.empty() ? "" : ", ", before.source, out.row.source);
  if (changes.empty())
    return out;
  out.changes = changes;
  out.changed = true;
  out.row.updated_at = now;
  out.row.handled_until = std::max(out.row.handled_until, now);
  if (auto err = store.save_schedule(out.row))
    return err;
  auto detail = timing_detail(out.row);
  detail["changes"] = changes;
  if (auto err = store.log_event(now, event_kind::schedule_updated, {}, {}, dump_json(detail)))
    return err;
  return out;
}

} // namespace

// -- loading --------------------------------------------------------------------

caf::error fleet_manager_state::load_schedules(int64_t now) {
  std::vector<schedule_row> declared;
  for (const auto& spec : opts_.declared_schedules) {
    auto timing = validate_schedule(spec, opts_.limits);
    if (!timing)
      return caf::make_error(errc::invalid_config, fmt::format("[schedule.{}] in the config file: {}", spec.name,
                                                               error_text(timing.error())));
    schedule_row row;
    write_definition(spec, *timing, row);
    row.source = "config";
    declared.push_back(std::move(row));
  }
  std::vector<schedule_change> synced;
  std::vector<schedule_row> rows;
  auto err = writer_->run([&](fleet_store& store) -> caf::error {
    for (const auto& definition : declared) {
      auto change = store_definition(store, definition, true, now);
      if (!change)
        return change.error();
      synced.push_back(std::move(*change));
    }
    auto all = store.schedules();
    if (!all)
      return all.error();
    rows = std::move(*all);
    return caf::none;
  });
  if (err)
    return err;
  for (const auto& change : synced) {
    if (change.added)
      spdlog::info("schedule {}: added from the config file", change.row.name);
    else if (change.changed)
      spdlog::info("schedule {}: updated from the config file, which differs from the stored one: {}",
                   change.row.name, change.changes);
  }
  for (auto& row : rows) {
    if (row.source == "config"
        && std::none_of(declared.begin(), declared.end(), [&](const auto& d) { return d.name == row.name; }))
      spdlog::warn("schedule {} came from the config file, which no longer declares it: it stays until "
                   "`fleetctl schedule rm {}`",
                   row.name, row.name);
    keep_schedule(std::move(row));
  }
  if (!schedules_.empty())
    spdlog::info("{} schedules loaded", schedules_.size());
  arm_schedule_timer();
  return caf::none;
}

void fleet_manager_state::keep_schedule(schedule_row row) {
  auto& s = schedules_[row.name];
  bool redefined = !s.timing || s.row.cron != row.cron || s.row.time_zone != row.time_zone
                   || s.row.every_ms != row.every_ms || s.row.tasks_json != row.tasks_json;
  if (redefined) {
    s.timing.reset();
    auto timing = schedule_timing::of(row.cron, row.time_zone, row.every_ms);
    auto tasks = decode_template(row.tasks_json, row.name);
    if (!timing || !tasks)
      spdlog::error("schedule {} cannot run: {}", row.name,
                    error_text(!timing ? timing.error() : tasks.error()));
    else {
      s.timing = std::move(*timing);
      s.tasks = std::move(*tasks);
    }
  }
  s.row = std::move(row);
  s.next.reset();
  if (s.timing && s.row.paused_at == 0)
    s.next = s.timing->next_after(s.row.handled_until);
}

// -- firing ---------------------------------------------------------------------

void fleet_manager_state::arm_schedule_timer(int64_t not_before) {
  std::optional<int64_t> due;
  for (const auto& [name, s] : schedules_)
    if (s.next && !s.firing)
      due = std::min(due.value_or(*s.next), *s.next);
  if (!due)
    return;
  auto now = now_ms();
  auto at = std::max(std::min(*due, now + max_schedule_sleep_ms), not_before);
  if (schedule_tick_at_ && *schedule_tick_at_ <= at)
    return; // an earlier tick will look again
  schedule_tick_at_ = at;
  if (at <= now)
    self_->send(self_, schedule_tick_atom::value);
  else
    self_->delayed_send(self_, std::chrono::milliseconds(at - now), schedule_tick_atom::value);
}

void fleet_manager_state::on_schedule_tick() {
  schedule_tick_at_ = caf::none;
  if (stopping_)
    return;
  auto now = now_ms();
  if (drain_.draining() || !storage_.writable()) {
    // Due slots wait: a drain ends in a stop (the next start finds them), storage comes back.
    arm_schedule_timer(now + schedule_retry_ms);
    return;
  }
  for (auto& [name, s] : schedules_)
    if (s.next && *s.next <= now && !s.firing)
      fire_due(s, now);
  arm_schedule_timer();
}

caf::expected<std::vector<task>> fleet_manager_state::firing_tasks(const live_schedule& s) const {
  auto tasks = s.tasks;
  if (auto err = validate_batch(tasks, type_check(), opts_.limits))
    return err;
  if (auto err = validate_dependencies(tasks))
    return err;
  if (auto err = check_queues(tasks))
    return err;
  if (auto err = validate_start_times(tasks, now_ms(), opts_.limits))
    return err;
  return tasks;
}

void fleet_manager_state::fire_due(live_schedule& s, int64_t now) {
  auto plan = plan_slots(*s.timing, s.row.handled_until, now, s.row.missed == "once");
  if (!plan.fire && plan.missed == 0) {
    s.next = plan.next;
    return;
  }
  std::vector<task> tasks;
  std::string refused; // the template cannot be submitted now: the slot is skipped, and says why
  if (plan.fire) {
    auto checked = firing_tasks(s);
    if (checked)
      tasks = std::move(*checked);
    else
      refused = error_text(checked.error());
  }
  s.firing = true;
  auto id = make_batch_id(now, rng_);
  auto job = [name = s.row.name, plan, id, now, refused, limits = opts_.limits,
              tasks = std::move(tasks)](fleet_store& store) -> caf::expected<firing> {
    auto found = store.schedule(name);
    if (!found)
      return found.error();
    firing out;
    if (!*found)
      return out;
    auto row = std::move(**found);
    if (row.paused_at != 0 || row.handled_until >= plan.handled_until) {
      out.stale = true;
      out.row = std::move(row);
      return out;
    }
    if (plan.missed > 0) {
      row.missed_slots += plan.missed;
      json detail{{"schedule", name}, {"slots", plan.missed}, {"first", format_rfc3339_ms(plan.missed_first)},
                  {"last", format_rfc3339_ms(plan.missed_last)}};
      if (auto err = store.log_event(now, event_kind::schedule_missed, {}, {}, dump_json(detail)))
        return err;
    }
    if (plan.fire) {
      auto slot = format_rfc3339_ms(*plan.fire);
      out.skipped = refused;
      if (out.skipped.empty() && !row.overlap && !row.last_batch_id.empty()) {
        auto last = store.status(row.last_batch_id);
        if (last && last->finished_at == 0)
          out.skipped = fmt::format("overlap = false, and batch {} of the last firing is {}", row.last_batch_id,
                                    to_string(last->status));
        else if (!last && last.error() != errc::unknown_batch)
          return last.error();
      }
      if (out.skipped.empty()) {
        auto key = slot_key(name, *plan.fire);
        auto stored = store_new_batch(store, id, key, limits, tasks, now);
        if (!stored && stored.error() != errc::limit_exceeded)
          return stored.error();
        if (!stored) {
          out.skipped = error_text(stored.error());
        } else {
          out.new_batch = stored->existing.empty();
          out.batch_id = out.new_batch ? id : stored->existing;
          out.tasks = stored->tasks;
          row.fired += 1;
          row.last_slot = *plan.fire;
          row.last_batch_id = out.batch_id;
          json detail{{"schedule", name}, {"slot", slot}, {"key", key}};
          if (auto err = store.log_event(now, event_kind::schedule_fired, out.batch_id, {}, dump_json(detail)))
            return err;
        }
      }
      if (!out.skipped.empty()) {
        row.skipped += 1;
        json detail{{"schedule", name}, {"slot", slot}, {"reason", out.skipped}};
        if (auto err = store.log_event(now, event_kind::schedule_skipped, {}, {}, dump_json(detail)))
          return err;
      }
    }
    row.handled_until = plan.handled_until;
    if (auto err = store.save_schedule(row))
      return err;
    out.row = std::move(row);
    return out;
  };
  write<firing>(std::move(job), [this, name = s.row.name, plan](caf::expected<firing> done) {
    auto it = schedules_.find(name);
    if (it != schedules_.end())
      it->second.firing = false;
    if (!done) {
      spdlog::error("schedule {}: its due slot could not be recorded, trying again in {} ms: {}", name,
                    schedule_retry_ms, error_text(done.error()));
      if (it != schedules_.end())
        it->second.next = now_ms() + schedule_retry_ms;
      arm_schedule_timer();
      return;
    }
    if (!done->row) {
      schedules_.erase(name);
      arm_schedule_timer();
      return;
    }
    keep_schedule(std::move(*done->row));
    if (plan.missed > 0 && !done->stale)
      spdlog::warn("schedule {}: {} slots from {} to {} passed without a firing (fleetd was not running, was "
                   "late, or its clock stepped)",
                   name, plan.missed, format_rfc3339_ms(plan.missed_first), format_rfc3339_ms(plan.missed_last));
    if (!done->skipped.empty())
      spdlog::warn("schedule {}: slot {} skipped: {}", name, format_rfc3339_ms(*plan.fire), done->skipped);
    if (done->new_batch) {
      spdlog::info("schedule {}: slot {} fired batch {} with {} tasks", name, format_rfc3339_ms(*plan.fire),
                   done->batch_id, done->tasks);
      opts_.metrics->batches_submitted.add();
      opts_.metrics->tasks_submitted.add(static_cast<uint64_t>(done->tasks));
      invalidate_ready();
      dispatch();
      wake_for_next_due();
    }
    arm_schedule_timer();
  });
}

// -- the API --------------------------------------------------------------------

std::string fleet_manager_state::last_batch_state(const schedule_row& row) const {
  if (row.last_batch_id.empty())
    return {};
  auto st = reader_->status(row.last_batch_id);
  return st ? to_string(st->status) : std::string{};
}

schedule_info fleet_manager_state::info_of_live(const schedule_row& row, const std::string& batch_state,
                                                bool with_template) const {
  auto info = info_of(row);
  schedule_info out;
  if (info)
    out = std::move(*info);
  else
    out.spec.name = row.name;
  out.template_tasks = static_cast<int64_t>(out.spec.tasks.size());
  if (!with_template)
    out.spec.tasks.clear();
  out.last_batch_state = batch_state;
  if (auto it = schedules_.find(row.name); it != schedules_.end() && it->second.next)
    out.next_run_at = *it->second.next;
  return out;
}

caf::result<schedule_info> fleet_manager_state::add_schedule(schedule_spec& spec, bool replace) {
  if (auto err = refuse_new_work())
    return err;
  auto timing = validate_schedule(spec, opts_.limits);
  if (!timing)
    return timing.error();
  auto checked = validate_batch(spec.tasks, type_check(), opts_.limits);
  if (!checked)
    checked = validate_dependencies(spec.tasks);
  if (!checked)
    checked = check_queues(spec.tasks);
  if (!checked)
    checked = validate_start_times(spec.tasks, now_ms(), opts_.limits);
  if (checked)
    return caf::make_error(static_cast<errc>(checked.code()),
                           fmt::format("schedule \"{}\": its template: {}", spec.name, error_text(checked)));
  bool known = schedules_.count(spec.name) > 0;
  if (known && !replace)
    return caf::make_error(errc::schedule_exists,
                           fmt::format("a schedule named \"{}\" exists already (remove it first, or replace it)",
                                       spec.name));
  if (!known && schedules_.size() >= max_schedules)
    return caf::make_error(errc::limit_exceeded, fmt::format("fleetd keeps at most {} schedules", max_schedules));
  schedule_row definition;
  write_definition(spec, *timing, definition);
  definition.source = "runtime";
  auto rp = self_->make_response_promise<schedule_info>();
  write<schedule_change>(
    [definition, replace, now = now_ms()](fleet_store& store) {
      return store_definition(store, definition, replace, now);
    },
    [this, rp](caf::expected<schedule_change> done) mutable {
      if (!done) {
        rp.deliver(std::move(done.error()));
        return;
      }
      if (done->changed)
        spdlog::info("schedule {}: {}", done->row.name, done->added ? "added" : "definition replaced");
      auto name = done->row.name;
      keep_schedule(std::move(done->row));
      arm_schedule_timer();
      rp.deliver(info_of_live(schedules_[name].row, {}, true));
    });
  return rp;
}

caf::result<std::vector<schedule_info>> fleet_manager_state::list_schedules() {
  auto rows = reader_->schedules();
  if (!rows)
    return rows.error();
  std::vector<schedule_info> out;
  out.reserve(rows->size());
  for (const auto& row : *rows)
    out.push_back(info_of_live(row, last_batch_state(row), false));
  return out;
}

caf::result<schedule_info> fleet_manager_state::get_schedule(const std::string& name) {
  auto row = reader_->schedule(name);
  if (!row)
    return row.error();
  if (!*row)
    return unknown_schedule(name);
  return info_of_live(**row, last_batch_state(**row), true);
}

caf::result<bool> fleet_manager_state::pause_schedule(const std::string& name, bool paused) {
  auto rp = self_->make_response_promise<bool>();
  write<schedule_change>(
    [name, paused, now = now_ms()](fleet_store& store) -> caf::expected<schedule_change> {
      auto found = store.schedule(name);
      if (!found)
        return found.error();
      if (!*found)
        return unknown_schedule(name);
      schedule_change out{std::move(**found), false, false, {}};
      if ((out.row.paused_at != 0) == paused)
        return out;
      out.changed = true;
      out.row.paused_at = paused ? now : 0;
      if (!paused) // the slots that passed while it was paused are not run
        out.row.handled_until = std::max(out.row.handled_until, now);
      if (auto err = store.save_schedule(out.row))
        return err;
      if (auto err = store.log_event(now, paused ? event_kind::schedule_paused : event_kind::schedule_resumed, {}, {},
                                     dump_json(json{{"schedule", name}})))
        return err;
      return out;
    },
    [this, rp, paused](caf::expected<schedule_change> done) mutable {
      if (!done) {
        rp.deliver(std::move(done.error()));
        return;
      }
      if (done->changed)
        spdlog::info("schedule {}: {}", done->row.name, paused ? "paused" : "resumed");
      bool changed = done->changed;
      keep_schedule(std::move(done->row));
      arm_schedule_timer();
      rp.deliver(changed);
    });
  return rp;
}

caf::result<bool> fleet_manager_state::remove_schedule(const std::string& name) {
  auto rp = self_->make_response_promise<bool>();
  write<bool>(
    [name, now = now_ms()](fleet_store& store) -> caf::expected<bool> {
      auto removed = store.delete_schedule(name);
      if (!removed)
        return removed.error();
      if (!*removed)
        return unknown_schedule(name);
      if (auto err = store.log_event(now, event_kind::schedule_removed, {}, {}, dump_json(json{{"schedule", name}})))
        return err;
      return true;
    },
    [this, rp, name](caf::expected<bool> done) mutable {
      if (!done) {
        rp.deliver(std::move(done.error()));
        return;
      }
      spdlog::info("schedule {}: removed", name);
      schedules_.erase(name);
      rp.deliver(true);
    });
  return rp;
}

caf::result<std::string> fleet_manager_state::run_schedule(const std::string& name) {
  if (auto err = refuse_new_work())
    return err;
  auto it = schedules_.find(name);
  if (it == schedules_.end())
    return unknown_schedule(name);
  if (!it->second.timing)
    return caf::make_error(errc::invalid_argument, fmt::format("schedule \"{}\" cannot be read (see the log)", name));
  auto tasks = firing_tasks(it->second);
  if (!tasks)
    return tasks.error();
  auto now = now_ms();
  auto id = make_batch_id(now, rng_);
  auto key = run_key(name, now);
  auto n_tasks = static_cast<int64_t>(tasks->size());
  struct run_done {
    stored_batch stored;
    schedule_row row;
  };
  auto rp = self_->make_response_promise<std::string>();
  write<run_done>(
    [name, id, key, now, limits = opts_.limits, tasks = std::move(*tasks)](fleet_store& store) -> caf::expected<run_done> {
      auto found = store.schedule(name);
      if (!found)
        return found.error();
      if (!*found)
        return unknown_schedule(name);
      auto row = std::move(**found);
      auto stored = store_new_batch(store, id, key, limits, tasks, now);
      if (!stored)
        return stored.error();
      row.fired += 1;
      row.last_batch_id = id;
      if (auto err = store.save_schedule(row))
        return err;
      json detail{{"schedule", name}, {"slot", nullptr}, {"key", key}};
      if (auto err = store.log_event(now, event_kind::schedule_fired, id, {}, dump_json(detail)))
        return err;
      return run_done{*stored, std::move(row)};
    },
    [this, rp, id, key, name, n_tasks](caf::expected<run_done> done) mutable {
      if (!done) {
        rp.deliver(std::move(done.error()));
        return;
      }
      keep_schedule(std::move(done->row));
      after_submit(rp, done->stored, id, key, fmt::format("{} tasks by `schedule run {}`", n_tasks, name));
      wake_for_next_due();
    });
  return rp;
}

} // namespace fleet
