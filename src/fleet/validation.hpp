#pragma once

#include "fleet/task.hpp"

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>
#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace fleet {

/// Limits for submitted work (fleetd's `fleet.max-*` options). A client that exceeds one is told
/// which, by option name.
struct submit_limits {
  size_t max_tasks_per_batch = 10'000'000; ///< fleet.max-batch-tasks
  size_t max_data_bytes = 1 << 20;         ///< fleet.max-task-data
  size_t max_id_bytes = 256;               ///< fleet.max-id-length
  size_t max_type_bytes = 64;
  int64_t max_pending_batches = 10'000;    ///< fleet.max-pending-batches: unfinished batches
  /// fleet.max-message-size: the most one message to fleetd may hold. Clients split what they
  /// send to fit (fleet_client, fleetctl).
  size_t max_message_bytes = size_t{256} << 20;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, submit_limits& x) {
  return f(caf::meta::type_name("fleet.submit_limits"), x.max_tasks_per_batch, x.max_data_bytes, x.max_id_bytes,
           x.max_type_bytes, x.max_pending_batches, x.max_message_bytes);
}

/// The error for a submit when `unfinished` batches already wait or run, none otherwise.
caf::error validate_pending_batches(int64_t unfinished, const submit_limits& limits);

/// Checks the data of one task for its type: `errc::unknown_task_type` if nothing runs that type,
/// `errc::invalid_task` if the data does not fit it, none otherwise.
using task_type_check = std::function<caf::error(const task&, const nlohmann::json& data)>;

/// The error for a batch of `n` tasks above the limit, none otherwise (also for uploads in chunks).
caf::error validate_batch_size(size_t n, const submit_limits& limits);

/// errc::duplicate_task_id for the task at `position` in its batch, whose id came before.
caf::error duplicate_task_id_error(int64_t position, std::string_view id);

/// A client key for an idempotent submit: empty (no key), or up to max_id_bytes without control
/// characters. `errc::invalid_batch` otherwise.
caf::error validate_client_key(const std::string& key, const submit_limits& limits = {});

/// Validates a whole batch before anything is stored: not empty, every id and type present and
/// within limits, ids unique, data valid JSON within the size limit, accepted by `check`.
/// The error names the offending task by index and id.
caf::error validate_batch(const std::vector<task>& tasks, const task_type_check& check,
                          const submit_limits& limits = {});

} // namespace fleet
