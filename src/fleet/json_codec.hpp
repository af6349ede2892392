#pragma once

// The JSON form of fleetd's answers, as `fleetctl --json` prints them. Field names follow the
// public operations (batch_status: status, total, completed, failed, progress, ...).

#include "fleet/batch_state.hpp"
#include "fleet/fleet_config.hpp"
#include "fleet/fleet_stats.hpp"
#include "fleet/task.hpp"

#include <nlohmann/json_fwd.hpp>

#include <vector>

namespace fleet {

nlohmann::json to_json(const batch_status& x);
nlohmann::json to_json(const task_result& x);
nlohmann::json to_json(const std::vector<task_result>& xs);
nlohmann::json to_json(const fleet_stats& x);
nlohmann::json to_json(const worker_info& x);
nlohmann::json to_json(const std::vector<worker_info>& xs);
nlohmann::json to_json(const fleet_config& x);
nlohmann::json to_json(const result_summary& x);

} // namespace fleet
