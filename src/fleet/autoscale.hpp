#pragma once

// The auto-scaling policy (the seed's AutoScalingFleetManager, as configuration): the manager asks
// it every `interval_ms` what max_concurrent_workers should be.

#include "fleetd/autoscale.hpp"

#include <caf/error.hpp>

#include <cstdint>

namespace fleet {

struct autoscale_policy {
  bool enabled = false;
  int32_t min_workers = 1;
  int32_t max_workers = 100;
  /// Grow when the tasks waiting to start exceed this many per running attempt.
  double up_ratio = 2.0;
  /// Shrink once nothing waited, and part of the limit went unused, for this long (down_ratio 0).
  int64_t idle_ms = 60'000;
  /// > 0: shrink whenever fewer than this many tasks wait per running attempt, not after idle_ms.
  double down_ratio = 0;
  /// Grow by this many workers; 0: double.
  int32_t up_step = 0;
  /// Shrink by this many workers; 0: halve.
  int32_t down_step = 0;
  int64_t interval_ms = 1000;
};

/// The limit the policy wants: grown (doubled, or by up_step) while more than up_ratio tasks wait
/// per running attempt and the fleet uses its whole limit; shrunk (halved, or by down_step) after
/// idle_ms idle, or with down_ratio > 0 while fewer than down_ratio tasks wait per running
/// attempt; otherwise unchanged; always within [min_workers, max_workers]. The seed's example
/// (up 5 when waiting > 2x running, down 3 when waiting < 0.5x running, between 5 and 50) is
/// up_ratio 2, up_step 5, down_ratio 0.5, down_step 3, min 5, max 50.
int32_t autoscale_target(const autoscale_policy& policy, const autoscale_input& in);

/// Bounds: 1 <= min <= max <= 100000, up_ratio in [0.1, 1000], down_ratio in [0, up_ratio),
/// steps in [0, 100000], idle_ms and interval_ms sensible.
caf::error validate(const autoscale_policy& policy);

} // namespace fleet
