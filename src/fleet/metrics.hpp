#pragma once

// fleetd's Prometheus metrics: counters and histograms that the manager and the writer thread
// update without locks, and that the HTTP server renders in the text exposition format.

#include "fleetd/fleet_stats.hpp"
#include "fleetd/queue.hpp"
#include "fleet/transitions.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace fleet {

/// A monotonic count since fleetd started.
class counter {
public:
  void add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<uint64_t> value_{0};
};

/// A value that goes up and down.
class gauge {
public:
  void set(int64_t x) { value_.store(x, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<int64_t> value_{0};
};

/// Observations in microseconds, counted per bucket (upper bounds, plus +Inf).
class histogram {
public:
  static constexpr size_t max_buckets = 24;

  /// Upper bounds in seconds, ascending; at most max_buckets.
  explicit histogram(std::vector<double> bounds_s);

  void observe_us(int64_t us);
  void observe_ms(int64_t ms) { observe_us(ms * 1000); }

  /// Cumulative counts per bound (the last is +Inf), and the sum in seconds. Read bucket by
  /// bucket while others observe: the count is taken from the buckets, so the lines of one
  /// exposition agree with each other.
  struct snapshot {
    std::vector<double> bounds_s;
    std::vector<uint64_t> cumulative; ///< one per bound, then +Inf
    double sum_s = 0;
  };
  snapshot read() const;

private:
  std::vector<int64_t> bounds_us_;
  std::vector<double> bounds_s_;
  std::array<std::atomic<uint64_t>, max_buckets + 1> counts_{};
  std::atomic<uint64_t> sum_us_{0};
};

/// Everything fleetd counts. Shared by the manager (tasks, attempts), its writer thread (commits)
/// and the HTTP server (which reads it).
struct fleet_metrics {
  counter batches_submitted;
  counter tasks_submitted;
  counter tasks_succeeded;
  counter tasks_failed;      ///< failed for good: no retry left
  counter tasks_retried;     ///< failed attempts scheduled again
  counter tasks_cancelled;
  counter tasks_interrupted; ///< attempts cut short by a shutdown, a crash or a lost node; run again
  counter tasks_replayed;
  counter pruned_batches; ///< retention: finished batches deleted
  counter pruned_tasks;
  counter pruned_events;
  counter pruned_bytes;   ///< returned to the file system by incremental vacuum
  counter archived_batches; ///< pruned batches written to fleet.archive-dir first
  counter archived_bytes;   ///< the compressed size of those archives
  histogram attempt_duration{{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
                              30, 60, 300}};
  histogram queue_wait{{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600}};
  /// One group write: BEGIN, the statements, COMMIT (with its fsync).
  histogram sqlite_commit{{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}};
  gauge storage_writable; ///< 1 while the database takes writes, 0 after a write failed for want of room or rights
  gauge nodes;            ///< fleetd's own workers plus the joined fleet-nodes
  gauge subscriptions;    ///< completion notifications waiting to be sent (one per batch and subscriber)
  gauge subscribers;      ///< actors holding a subscription, each monitored once

  /// Counts an attempt's end once its commit succeeded.
  void count(const attempt_ended& end);
};

/// The Prometheus text exposition (version 0.0.4) of `m`, with the gauges of `stats` (the
/// manager's answer at scrape time) when given; fleetd_manager_up says whether they were.
std::string render_prometheus(const fleet_metrics& m, const fleet_stats* stats);

/// The per-queue gauges and counters (label `queue`), from the manager's queues() at scrape time.
std::string render_queue_metrics(const std::vector<queue_info>& queues);

} // namespace fleet
