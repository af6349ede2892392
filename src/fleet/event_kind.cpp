#include "fleet/event_kind.hpp"

namespace fleet {

std::string_view to_string(event_kind x) {
  switch (x) {
    case event_kind::batch_submitted: return "batch_submitted";
    case event_kind::batch_finished: return "batch_finished";
    case event_kind::batch_cancelled: return "batch_cancelled";
    case event_kind::batch_paused: return "batch_paused";
    case event_kind::batch_resumed: return "batch_resumed";
    case event_kind::task_failed: return "task_failed";
    case event_kind::task_retry_scheduled: return "task_retry_scheduled";
    case event_kind::task_retry_due: return "task_retry_due";
    case event_kind::task_cancelled: return "task_cancelled";
    case event_kind::task_replayed: return "task_replayed";
    case event_kind::attempt_interrupted: return "attempt_interrupted";
    case event_kind::fleet_paused: return "fleet_paused";
    case event_kind::fleet_resumed: return "fleet_resumed";
    case event_kind::config_updated: return "config_updated";
    case event_kind::workers_autoscaled: return "workers_autoscaled";
    case event_kind::node_joined: return "node_joined";
    case event_kind::node_dropped: return "node_dropped";
    case event_kind::api_request: return "api_request";
    case event_kind::batch_pruned: return "batch_pruned";
    case event_kind::schedule_added: return "schedule_added";
    case event_kind::schedule_updated: return "schedule_updated";
    case event_kind::schedule_paused: return "schedule_paused";
    case event_kind::schedule_resumed: return "schedule_resumed";
    case event_kind::schedule_removed: return "schedule_removed";
    case event_kind::schedule_fired: return "schedule_fired";
    case event_kind::schedule_skipped: return "schedule_skipped";
    case event_kind::schedule_missed: return "schedule_missed";
    case event_kind::tasks_skipped: return "tasks_skipped";
    case event_kind::queue_changed: return "queue_changed";
    case event_kind::orphan_stopped: return "orphan_stopped";
    case event_kind::clock_stepped: return "clock_stepped";
    case event_kind::fleetd_started: return "fleetd_started";
    case event_kind::fleetd_stopped: return "fleetd_stopped";
    case event_kind::config_reset: return "config_reset";
  }
  return "unknown";
}

std::optional<event_kind> event_of(task_disposition next) {
  switch (next) {
    case task_disposition::succeeded: return std::nullopt;
    case task_disposition::failed: return event_kind::task_failed;
    case task_disposition::retry: return event_kind::task_retry_scheduled;
    case task_disposition::cancelled: return event_kind::task_cancelled;
    case task_disposition::requeue: return event_kind::attempt_interrupted;
  }
  return event_kind::task_failed;
}

} // namespace fleet
