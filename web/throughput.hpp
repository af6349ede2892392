#pragma once

// The status page's throughput chart: every second, the tasks that succeeded, failed for good and
// were retried in it (from the metrics' counters) and the queue depth (pending tasks, asked from
// the manager), kept in memory for the last 15 minutes. A thread of its own samples.

#include "fleetd/fleet_stats.hpp"
#include "fleet/metrics.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include <nlohmann/json_fwd.hpp>

namespace fleet {

struct throughput_sample {
  int64_t at = 0; ///< ms since the epoch, the end of the second
  uint64_t succeeded = 0;
  uint64_t failed = 0;
  uint64_t retried = 0;
  int64_t queued = -1; ///< pending tasks; -1 when the manager did not answer
};

class throughput_history {
public:
  static constexpr size_t kept = 900; ///< 15 minutes of seconds

  /// `queued()` asks for the pending tasks (none: unknown).
  throughput_history(std::shared_ptr<const fleet_metrics> metrics, std::function<caf::expected<int64_t>()> queued,
                     std::chrono::milliseconds interval = std::chrono::seconds(1));
  ~throughput_history();

  /// {"interval_ms", "samples": [{"at", "succeeded", "failed", "retried", "queued"}, ...]}, oldest first.
  nlohmann::json to_json() const;

  /// Takes one sample now (the thread does it every interval; tests may too).
  void sample();

private:
  std::shared_ptr<const fleet_metrics> metrics_;
  std::function<caf::expected<int64_t>()> queued_;
  std::chrono::milliseconds interval_;
  mutable std::mutex mtx_;
  std::condition_variable stop_;
  bool stopping_ = false;
  uint64_t last_succeeded_, last_failed_, last_retried_;
  std::deque<throughput_sample> samples_;
  std::thread thread_;
};

} // namespace fleet
