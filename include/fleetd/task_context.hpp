#pragma once

// What a task function knows about the attempt it runs: see fleet::worker_registry::add_function.

#include "fleetd/interfaces.hpp"
#include "fleetd/task.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace fleet {

/// One attempt as the fleet starts it: the worker's id (as `fleetctl workers` and the attempts
/// table name it), the attempt number (1-based), its deadline, and the fleet's coordinator.
struct attempt_info {
  std::string worker_id{};
  int32_t attempt = 1;
  int64_t deadline_ms = 0; ///< ms since the epoch after which the fleet fails the attempt; 0: none
  /// Where a worker may report its outcome itself (submit_result_atom, worker_id, outcome);
  /// invalid where there is none (a test, a node that has not learnt it yet).
  coordinator_actor coordinator{};
  /// The attempt's batch (empty where it is not known: on a fleet-node).
  std::string batch_id{};
};

/// The attempt a task function runs. Cheap to copy; every copy sees the same cancel flag.
class task_context {
public:
  task_context(task t, attempt_info info, std::shared_ptr<const std::atomic<bool>> stopped);

  const std::string& task_id() const { return task_.id; }
  const std::string& type() const { return task_.type; }
  int32_t priority() const { return task_.priority; }
  /// The task's data (JSON text, as submitted).
  const std::string& data() const { return task_.data; }
  /// The results of the tasks it runs after ("after"), as a JSON object by task id; "{}" for a
  /// task without dependencies.
  std::string_view deps() const { return task_.deps.empty() ? std::string_view{"{}"} : std::string_view{task_.deps}; }
  const std::string& worker_id() const { return info_.worker_id; }
  /// 1 for the first attempt, 2 for the first retry, ...
  int32_t attempt() const { return info_.attempt; }

  /// When the fleet gives up on this attempt (max() if it never does).
  std::chrono::system_clock::time_point deadline() const;
  /// Time left until the deadline (zero once it passed; max() without one).
  std::chrono::milliseconds remaining() const;

  /// True once the fleet stopped this attempt (the batch was cancelled, the deadline passed, the
  /// node drains out of time or loses fleetd): nobody waits for the result any more, so a long
  /// function should check it now and then and return early.
  bool cancelled() const;

  /// Reports how far the attempt got (0..1, clamped) and a short note: shown with the attempt in
  /// `fleetctl workers`, active_workers() and the status page until the next report.
  void progress(double fraction, std::string_view note = {}) const;

  /// Where progress goes (set by the function's worker; none: reports go nowhere).
  using progress_sink = std::function<void(double, std::string)>;
  void set_progress_sink(progress_sink sink) { progress_ = std::move(sink); }

  /// Log lines under the task's id and attempt, in the log of the process that runs it.
  void info(std::string_view text) const;
  void warn(std::string_view text) const;
  void error(std::string_view text) const;

private:
  task task_;
  attempt_info info_;
  std::shared_ptr<const std::atomic<bool>> stopped_;
  progress_sink progress_;
};

} // namespace fleet
