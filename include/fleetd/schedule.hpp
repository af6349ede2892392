#pragma once

#include "fleetd/task.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace fleet {

/// A recurring schedule: at each slot of its timing, fleetd submits a batch of `tasks` (a
/// template: the task objects of a task file; `delay_ms` counts from the firing, `run_at` is
/// refused). The timing is a 5-field cron expression read in `time_zone` (an IANA name; empty:
/// UTC), or, instead, an interval `every_ms` (slots at whole multiples of it since the Unix epoch,
/// so "every 1h" fires on the hour).
struct schedule_spec {
  std::string name{};      ///< 1-64 of A-Z a-z 0-9 . _ -
  std::string cron{};      ///< empty for an interval
  std::string time_zone{}; ///< with cron only; empty: UTC
  int64_t every_ms = 0;    ///< 0 for a cron expression
  std::vector<task> tasks{};
  /// Slots missed while fleetd was down (found more than a minute late): "skip" them all, or run
  /// the latest of them "once".
  std::string missed = "skip";
  /// false: a slot is skipped while the batch of the previous firing is unfinished.
  bool overlap = true;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, schedule_spec& x) {
  return f(caf::meta::type_name("fleet.schedule_spec"), x.name, x.cron, x.time_zone, x.every_ms, x.tasks,
           x.missed, x.overlap);
}

/// A stored schedule and what it has done.
struct schedule_info {
  schedule_spec spec{};
  bool paused = false;
  std::string source{};           ///< "runtime" (fleetctl, the APIs) or "config" ([schedule.NAME])
  int64_t created_at = 0;         ///< ms since the epoch
  int64_t updated_at = 0;
  int64_t next_run_at = 0;        ///< the next slot; 0 while paused
  int64_t last_slot = 0;          ///< the slot of the last firing; 0 if none
  std::string last_batch_id{};    ///< the batch the last firing made (or that `run` made)
  std::string last_batch_state{}; ///< its state now; empty if none (or pruned)
  int64_t fired = 0;              ///< batches submitted by slots and by `run`
  int64_t skipped = 0;            ///< slots not fired: overlap=false, or the submit was refused
  int64_t missed = 0;             ///< slots that passed while fleetd was down and were not run
  /// How many tasks the template has. A list of schedules leaves `spec.tasks` empty (templates
  /// may be big); one schedule asked for by name carries them.
  int64_t template_tasks = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, schedule_info& x) {
  return f(caf::meta::type_name("fleet.schedule_info"), x.spec, x.paused, x.source, x.created_at,
           x.updated_at, x.next_run_at, x.last_slot, x.last_batch_id, x.last_batch_state, x.fired, x.skipped,
           x.missed, x.template_tasks);
}

} // namespace fleet
