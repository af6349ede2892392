#pragma once

// What an auto-scaling policy looks at, and the hook for a policy of your own (daemon_extensions).

#include <cstdint>
#include <functional>

namespace fleet {

/// The fleet's figures at one autoscaling check (every second).
struct autoscale_input {
  int64_t waiting = 0;     ///< runnable tasks not running (waiting retries included)
  int64_t running = 0;     ///< attempts running now
  int32_t limit = 1;       ///< max_concurrent_workers now
  int64_t idle_for_ms = 0; ///< how long nothing has waited and the limit was not fully used
};

/// A policy of your own: the worker limit it wants (`in.limit` keeps it). fleetd keeps the answer
/// within fleet.autoscale-min and fleet.autoscale-max, stores a change like `scale_workers`, and
/// records why in the events. What it throws is logged and changes nothing.
using autoscale_hook = std::function<int32_t(const autoscale_input& in)>;

} // namespace fleet
