#pragma once

#include "fleet/task.hpp"

#include <caf/error.hpp>
#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <functional>
#include <vector>

namespace fleet {

/// Size limits for submitted work.
struct submit_limits {
  size_t max_tasks_per_batch = 10'000'000;
  size_t max_data_bytes = 1 << 20;
  size_t max_id_bytes = 256;
  size_t max_type_bytes = 64;
};

/// Checks the data of one task for its type: `errc::unknown_task_type` if nothing runs that type,
/// `errc::invalid_task` if the data does not fit it, none otherwise.
using task_type_check = std::function<caf::error(const task&, const nlohmann::json& data)>;

/// The error for a batch of `n` tasks above the limit, none otherwise (also for uploads in chunks).
caf::error validate_batch_size(size_t n, const submit_limits& limits);

/// Validates a whole batch before anything is stored: not empty, every id and type present and
/// within limits, ids unique, data valid JSON within the size limit, accepted by `check`.
/// The error names the offending task by index and id.
caf::error validate_batch(const std::vector<task>& tasks, const task_type_check& check,
                          const submit_limits& limits = {});

} // namespace fleet
