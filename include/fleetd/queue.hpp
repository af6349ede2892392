#pragma once

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace fleet {

/// The queue a task names none of.
inline const std::string default_queue = "default";

/// What bounds the attempts of one queue, within the fleet's max_concurrent_workers. A zero
/// limit is no limit.
struct queue_limits {
  int32_t max_workers = 0;        ///< attempts of the queue at once
  int32_t rate_count = 0;         ///< attempt starts per rate_interval_ms (a token bucket of this size)
  int64_t rate_interval_ms = 0;
  int32_t weight = 1;             ///< the queue's share of free workers when several queues have work
  int32_t group_max_workers = 0;  ///< attempts of one group of the queue at once
  bool paused = false;

  friend bool operator==(const queue_limits&, const queue_limits&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_limits& x) {
  return f(caf::meta::type_name("fleet.queue_limits"), x.max_workers, x.rate_count, x.rate_interval_ms, x.weight,
           x.group_max_workers, x.paused);
}

/// A change of some of a queue's limits (`fleetctl queue set`): each field at -1 stays as it is.
struct queue_change {
  int32_t max_workers = -1;
  int32_t rate_count = -1; ///< with rate_interval_ms; 0 (and 0) removes the rate limit
  int64_t rate_interval_ms = -1;
  int32_t weight = -1;
  int32_t group_max_workers = -1;
  int8_t paused = -1;

  bool empty() const {
    return max_workers < 0 && rate_count < 0 && rate_interval_ms < 0 && weight < 0 && group_max_workers < 0
           && paused < 0;
  }

  friend bool operator==(const queue_change&, const queue_change&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_change& x) {
  return f(caf::meta::type_name("fleet.queue_change"), x.max_workers, x.rate_count, x.rate_interval_ms, x.weight,
           x.group_max_workers, x.paused);
}

/// A queue as `queues()` lists it: its limits in force and what it runs.
struct queue_info {
  std::string name{};
  queue_limits limits{};
  int64_t pending = 0;  ///< runnable tasks waiting (not delayed, not blocked, not paused)
  int32_t running = 0;  ///< attempts running now
  int64_t started = 0;  ///< attempts started since fleetd started
  int32_t groups = 0;   ///< groups with an attempt running now
  double tokens = 0;    ///< attempt starts the rate allows now (0 without a rate)
  bool declared = false; ///< in the config file (else created at runtime)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_info& x) {
  return f(caf::meta::type_name("fleet.queue_info"), x.name, x.limits, x.pending, x.running, x.started, x.groups,
           x.tokens, x.declared);
}

} // namespace fleet
