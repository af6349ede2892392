#pragma once

// The JSON form of fleetd's answers, as `fleetctl --json` prints them. Field names follow the
// public operations (batch_status: status, total, completed, failed, progress, ...).

#include "fleetd/batch_state.hpp"
#include "fleetd/fleet_config.hpp"
#include "fleetd/fleet_stats.hpp"
#include "fleetd/node_info.hpp"
#include "fleetd/overview.hpp"
#include "fleetd/schedule.hpp"
#include "fleetd/task.hpp"

#include <caf/expected.hpp>
#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

namespace fleet {

nlohmann::json to_json(const batch_status& x);
nlohmann::json to_json(const task_result& x);
nlohmann::json to_json(const std::vector<task_result>& xs);
/// One result as JSON text, its `result` embedded exactly as the worker wrote it (compacted), so
/// that a big integer is not rounded through a double.
std::string to_json_text(const task_result& x);
std::string to_json_text(const dead_letter& x);
std::string to_json_text(const task_entry& x);
nlohmann::json to_json(const fleet_stats& x);
nlohmann::json to_json(const worker_info& x);
nlohmann::json to_json(const std::vector<worker_info>& xs);
nlohmann::json to_json(const fleet_config& x);
nlohmann::json to_json(const result_summary& x);
nlohmann::json to_json(const node_info& x);
nlohmann::json to_json(const dead_letter& x);
nlohmann::json to_json(const task_entry& x);
nlohmann::json to_json(const std::vector<node_info>& xs);
/// What the web status page reads (GET /api/overview).
nlohmann::json to_json(const fleet_overview& x);

/// A schedule: its definition (every as a duration text and in ms; `tasks`, the template's tasks
/// with their data, when it was asked for by name), its state and counters; times in ms since the
/// epoch, null when there is none.
nlohmann::json to_json(const schedule_info& x);
nlohmann::json to_json(const std::vector<schedule_info>& xs);
/// A schedule definition from JSON (the HTTP API): {"name", "cron", "tz", "every" ("30s" or ms),
/// "missed", "overlap", "tasks": [task objects as in a task file]}; unknown fields are refused.
/// `name` is used when the object names none.
caf::expected<schedule_spec> schedule_from_json(const nlohmann::json& x, const std::string& name = {});

/// The `detail` of the node_joined and node_dropped events.
std::string node_joined_detail(const node_announcement& a);
/// The detail of an orphan_stopped event: a program that node `node` (empty: fleetd itself) stopped
/// at its start.
std::string orphan_stopped_detail(const std::string& node, const stopped_orphan& o);
std::string node_dropped_detail(const std::string& name, const std::string& reason, int32_t interrupted);
/// The `detail` of fleetd_started (without "run", which the store adds): the version, the pid, the
/// daemon's `options` in force, every fleet setting in force (`cfg`, by option name) and the
/// settings stored at runtime (`overrides`, by option name).
std::string run_started_detail(const std::string& version, int64_t pid,
                               const std::vector<std::pair<std::string, std::string>>& options,
                               const fleet_config& cfg, const config_update& overrides);

} // namespace fleet
