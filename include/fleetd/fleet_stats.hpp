#pragma once

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>

namespace fleet {

/// Answer to stats(): the seed's figures plus retries, cancelled and pending.
struct fleet_stats {
  int64_t total_batches = 0;
  int64_t total_tasks = 0;
  int64_t completed_tasks = 0; ///< succeeded
  int64_t failed_tasks = 0;
  int64_t cancelled_tasks = 0;
  int64_t pending_tasks = 0; ///< may start now or after a retry's backoff, not running
  int64_t running_tasks = 0;
  int64_t retries = 0; ///< failed attempts that were scheduled again
  int32_t active_workers = 0;
  int32_t max_concurrent_workers = 0;
  bool paused = false; ///< the whole fleet: no attempt starts
  int64_t scheduled_tasks = 0; ///< delayed: waiting for their run_at
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fleet_stats& x) {
  return f(caf::meta::type_name("fleet.fleet_stats"), x.total_batches, x.total_tasks,
           x.completed_tasks, x.failed_tasks, x.cancelled_tasks, x.pending_tasks, x.running_tasks,
           x.retries, x.active_workers, x.max_concurrent_workers, x.paused, x.scheduled_tasks);
}

/// Where a worker is in its short life.
enum class worker_status : uint8_t { spawning, active, completed, failed };

inline std::string to_string(worker_status x) {
  switch (x) {
    case worker_status::spawning: return "spawning";
    case worker_status::active: return "active";
    case worker_status::completed: return "completed";
    case worker_status::failed: return "failed";
  }
  return "unknown";
}

/// One line of active_workers().
struct worker_info {
  std::string worker_id{};
  std::string batch_id{};
  std::string task_id{};
  int32_t attempt = 0;
  worker_status status = worker_status::spawning;
  int64_t spawned_at = 0;   ///< ms since epoch
  int64_t completed_at = 0; ///< 0 while running
  std::string node = "local"; ///< where the worker runs: "local" (fleetd) or a fleet-node's name
  double progress = -1;       ///< what the worker last reported, 0..1; -1: nothing (yet)
  std::string note{};         ///< the worker's note with its last progress
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_info& x) {
  return f(caf::meta::type_name("fleet.worker_info"), x.worker_id, x.batch_id, x.task_id, x.attempt,
           x.status, x.spawned_at, x.completed_at, x.node, x.progress, x.note);
}

/// The coordinator's aggregate of finished results (the seed's getSummary).
struct result_summary {
  int64_t total_results = 0;
  int64_t success_count = 0;
  int64_t failure_count = 0;
  double success_rate = 0;         ///< success_count / total_results, 0 when empty
  double average_duration_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, result_summary& x) {
  return f(caf::meta::type_name("fleet.result_summary"), x.total_results, x.success_count,
           x.failure_count, x.success_rate, x.average_duration_ms);
}

/// The summary of `total` finished results, `successes` of them successful, lasting
/// `duration_sum_ms` together.
inline result_summary make_summary(int64_t total, int64_t successes, double duration_sum_ms) {
  result_summary out;
  out.total_results = total;
  out.success_count = successes;
  out.failure_count = total - successes;
  if (total > 0) {
    out.success_rate = static_cast<double>(successes) / static_cast<double>(total);
    out.average_duration_ms = duration_sum_ms / static_cast<double>(total);
  }
  return out;
}

} // namespace fleet
