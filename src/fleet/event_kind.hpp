#pragma once

#include "fleet/transitions.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace fleet {

/// What an audit event (a row of `events`) records. The text of each is the `kind` column's value;
/// schema/0001_init.sql (and the later files for later kinds) list when each is written and the
/// keys of its `detail`.
enum class event_kind : uint8_t {
  batch_submitted,
  batch_finished,
  batch_cancelled,
  batch_paused,
  batch_resumed,
  task_failed,
  task_retry_scheduled,
  task_retry_due,
  task_cancelled,
  task_replayed,
  attempt_interrupted,
  fleet_paused,
  fleet_resumed,
  config_updated,
  workers_autoscaled,
  node_joined,
  node_dropped,
  api_request,
  batch_pruned,
  schedule_added,
  schedule_updated,
  schedule_paused,
  schedule_resumed,
  schedule_removed,
  schedule_fired,
  schedule_skipped,
  schedule_missed,
  tasks_skipped,
  queue_changed,
  orphan_stopped,
  fleetd_started,
  fleetd_stopped,
  config_reset,
  clock_stepped,
};

/// Every kind, in declaration order (for tests and documentation checks).
inline constexpr event_kind all_event_kinds[] = {
  event_kind::batch_submitted,     event_kind::batch_finished,   event_kind::batch_cancelled,
  event_kind::batch_paused,        event_kind::batch_resumed,    event_kind::task_failed,
  event_kind::task_retry_scheduled, event_kind::task_retry_due,  event_kind::task_cancelled,
  event_kind::task_replayed,       event_kind::attempt_interrupted, event_kind::fleet_paused,
  event_kind::fleet_resumed,       event_kind::config_updated,   event_kind::workers_autoscaled,
  event_kind::node_joined,         event_kind::node_dropped,     event_kind::api_request,
  event_kind::batch_pruned,       event_kind::schedule_added,   event_kind::schedule_updated,
  event_kind::schedule_paused,    event_kind::schedule_resumed, event_kind::schedule_removed,
  event_kind::schedule_fired,     event_kind::schedule_skipped, event_kind::schedule_missed,
  event_kind::tasks_skipped,     event_kind::queue_changed,    event_kind::orphan_stopped,
  event_kind::fleetd_started,    event_kind::fleetd_stopped,   event_kind::config_reset,
  event_kind::clock_stepped,
};

/// The `kind` text: the enumerator's name.
std::string_view to_string(event_kind x);

/// The event of an attempt that ended with `next`; none for a success, whose `attempts` row is its
/// audit (the hot path writes no event for it).
std::optional<event_kind> event_of(task_disposition next);

} // namespace fleet
