#pragma once

// One consistent snapshot of the fleet, as fleetd's web status page shows it.

#include "fleetd/batch_state.hpp"
#include "fleetd/fleet_stats.hpp"
#include "fleetd/node_info.hpp"
#include "fleetd/task.hpp"

#include <caf/meta/type_name.hpp>

#include <string>
#include <vector>

namespace fleet {

struct fleet_overview {
  fleet_stats stats{};
  std::vector<batch_status> batches{}; ///< the newest first
  std::vector<worker_info> workers{};  ///< running, then the most recently finished
  std::vector<dead_letter> failures{}; ///< failed tasks (no retry left), the latest submitted first
  std::vector<node_info> nodes{};
  std::string storage_error{}; ///< why the database takes no writes now; empty while it does
  int64_t at = 0;              ///< when the snapshot was taken, ms since the epoch
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fleet_overview& x) {
  return f(caf::meta::type_name("fleet.fleet_overview"), x.stats, x.batches, x.workers, x.failures,
           x.nodes, x.storage_error, x.at);
}

} // namespace fleet
