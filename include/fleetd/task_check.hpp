#pragma once

#include "fleetd/task.hpp"

#include <caf/error.hpp>
#include <nlohmann/json_fwd.hpp>

#include <functional>

namespace fleet {

/// Checks a task's data for one worker kind at submit time; `errc::invalid_task` if it does not fit.
using data_check = std::function<caf::error(const nlohmann::json& data)>;

/// Checks the data of one task for its type: `errc::unknown_task_type` if nothing runs that type,
/// `errc::invalid_task` if the data does not fit it, none otherwise.
using task_type_check = std::function<caf::error(const task&, const nlohmann::json& data)>;

} // namespace fleet
