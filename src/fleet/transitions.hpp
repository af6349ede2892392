#pragma once

#include "fleetd/task.hpp"

#include <cstdint>
#include <string>
#include <variant>

namespace fleet {

/// The latest progress an attempt of task `seq` reported, to store.
struct progress_report {
  int64_t seq = 0;
  double progress = 0;
  std::string note;
};

/// The most bytes of dependency results a read turns into one JSON object for a task: what the
/// object grows to when every byte of a result that is not JSON is escaped (six bytes as \u00XX)
/// stays under SQLite's limit on one value (10^9 bytes) and PostgreSQL's on a jsonb value (256 MiB,
/// which holds strings unescaped), so that such a read cannot fail.
inline constexpr int64_t max_dependency_object_bytes = int64_t{128} << 20;

/// Dependency results up to this many bytes together come with their task's row in a read of
/// runnable tasks, as one JSON object: a window of 256 rows holds at most 16 MiB of them, and a
/// task whose results are small (the common case) costs no read of its own when it starts. Bigger
/// ones are read then (store_reader::dependency_results).
inline constexpr int64_t max_inline_dependency_bytes = int64_t{64} << 10;

/// What a task with dependencies is given of them (store_reader::dependency_results).
struct dependency_results {
  int64_t bytes = 0;  ///< their results together, in bytes as stored
  std::string object; ///< the results by task id, as one JSON object; empty above the read's bound
};

/// A task ready to start, as read from the runnable index.
struct runnable_task {
  int64_t seq = 0; ///< the task's row, unique across batches
  std::string batch_id;
  task spec;
  int32_t attempts = 0;      ///< attempts started so far
  int32_t interruptions = 0; ///< of those, cut short by a crash or shutdown
  int32_t replay_base = 0;   ///< attempts counted against max_retries before the last replay
  int32_t orphaned = 0;      ///< attempts lost to a crash of fleetd or of their node
  int64_t ready_at = 0;      ///< since when it waits to start (ms; 0: not known, a row older than the measure)
  /// The tasks it runs after. Their results come in spec.deps up to max_inline_dependency_bytes;
  /// spec.deps is empty for bigger ones, which are read when its attempt starts.
  int32_t dependencies = 0;
};

/// An attempt on a fleet-node that the last process left open, kept running in the record for its
/// node to rejoin and say how it went (see recover_interrupted).
struct held_attempt {
  runnable_task task; ///< its task as a read of runnable tasks gives it; `attempts` counts this one
  int32_t attempt = 0;
  std::string worker_id;
  std::string node;
  int64_t started_at = 0;
};

/// A place in run order (priority descending, then seq): where a read of the runnable index
/// stopped.
struct run_position {
  int32_t priority = 0;
  int64_t seq = 0;
};

/// How an attempt ended.
enum class attempt_outcome : uint8_t { succeeded, failed, timed_out, cancelled, interrupted };

std::string to_string(attempt_outcome x);

/// Where a task goes after an attempt.
enum class task_disposition : uint8_t { succeeded, failed, retry, cancelled, requeue };

/// Whether the task is finished for good with this disposition (its batch may be too).
inline bool is_terminal(task_disposition x) {
  return x == task_disposition::succeeded || x == task_disposition::failed || x == task_disposition::cancelled;
}

/// The `tasks.state` a task is in after an attempt that leads to `x`.
inline const char* task_state_after(task_disposition x) {
  switch (x) {
    case task_disposition::succeeded: return "succeeded";
    case task_disposition::failed: return "failed";
    case task_disposition::retry: return "retry_wait";
    case task_disposition::cancelled: return "cancelled";
    case task_disposition::requeue: return "pending";
  }
  return "failed";
}

/// An attempt began on a worker.
struct attempt_started {
  int64_t seq = 0;
  std::string batch_id;
  std::string task_id;
  int32_t attempt = 0; ///< 1-based
  std::string worker_id;
  int64_t at = 0;
  std::string node; ///< the fleet-node it runs on; empty: fleetd's own worker
};

/// An attempt ended, and the task moves on.
struct attempt_ended {
  int64_t seq = 0;
  std::string batch_id;
  std::string task_id;
  int32_t attempt = 0;
  int64_t at = 0;
  attempt_outcome outcome = attempt_outcome::failed;
  std::string result; ///< JSON, on success
  std::string error;
  task_disposition next = task_disposition::failed;
  int64_t not_before = 0; ///< for retry
  int64_t duration_ms = 0;
  /// Lost to a crash of fleetd or of its node (not stopped in order): counts against
  /// fleet.max-interruptions.
  bool orphaned = false;
};

/// The error of a task given up after `lost` attempts were lost to crashes (a poison task), the
/// last one for `reason`.
std::string poison_error(int64_t lost, const std::string& reason);

/// How an attempt lost to a crash of fleetd or of its node ends: interrupted, its task pending
/// again, or failed for good once this is its `lost`-th lost attempt and `lost` reaches
/// `max_interruptions` (fleet.max-interruptions). `duration_ms` is 0 for an attempt found lost at
/// fleetd's start, whose end nobody saw.
attempt_ended lost_attempt_end(int64_t seq, std::string batch_id, std::string task_id, int32_t attempt, int64_t at,
                               int64_t duration_ms, int64_t lost, int32_t max_interruptions, std::string reason);

/// A state change waiting for the next group commit.
using transition = std::variant<attempt_started, attempt_ended>;

} // namespace fleet
