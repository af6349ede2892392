#pragma once

// The auto-scaling policy (the seed's AutoScalingFleetManager, as configuration): the manager asks
// it every `interval_ms` what max_concurrent_workers should be.

#include <caf/error.hpp>

#include <cstdint>

namespace fleet {

struct autoscale_policy {
  bool enabled = false;
  int32_t min_workers = 1;
  int32_t max_workers = 100;
  /// Grow when the tasks waiting to start exceed this many per running attempt.
  double up_ratio = 2.0;
  /// Shrink once nothing waited, and part of the limit went unused, for this long.
  int64_t idle_ms = 60'000;
  int64_t interval_ms = 1000;
};

/// What the policy looks at.
struct autoscale_input {
  int64_t waiting = 0;     ///< runnable tasks not running (waiting retries included)
  int64_t running = 0;     ///< attempts running now
  int32_t limit = 1;       ///< max_concurrent_workers now
  int64_t idle_for_ms = 0; ///< how long nothing has waited and the limit was not fully used
};

/// The limit the policy wants: doubled (up to max_workers) while more than up_ratio tasks wait per
/// running attempt and the fleet uses its whole limit; halved (down to min_workers) after idle_ms
/// idle (see idle_for_ms); otherwise unchanged, but always within [min_workers, max_workers].
int32_t autoscale_target(const autoscale_policy& policy, const autoscale_input& in);

/// Bounds: 1 <= min <= max <= 100000, up_ratio in [0.1, 1000], idle_ms and interval_ms sensible.
caf::error validate(const autoscale_policy& policy);

} // namespace fleet
