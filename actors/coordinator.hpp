#pragma once

#include "fleetd/interfaces.hpp"

#include <caf/stateful_actor.hpp>

namespace fleet {

struct coordinator_state {
  int64_t total_results = 0;
  int64_t success_count = 0;
  double duration_sum_ms = 0;
  static inline const char* name = "fleet.coordinator";
  result_summary summary() const;
};

/// Aggregates finished results; `initial` carries the totals of earlier runs (from the store).
/// Results that workers report themselves go on to `manager`, which decides whether they count.
coordinator_actor::behavior_type
coordinator(coordinator_actor::stateful_pointer<coordinator_state> self, result_summary initial,
            fleet_manager_actor manager);

} // namespace fleet
