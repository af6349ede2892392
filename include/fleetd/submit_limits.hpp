#pragma once

#include <caf/meta/type_name.hpp>

#include <cstddef>
#include <cstdint>

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
  /// fleet.max-delay: the furthest a delayed task may start from its submit (365 days).
  int64_t max_delay_ms = int64_t{365} * 86'400'000;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, submit_limits& x) {
  return f(caf::meta::type_name("fleet.submit_limits"), x.max_tasks_per_batch, x.max_data_bytes, x.max_id_bytes,
           x.max_type_bytes, x.max_pending_batches, x.max_message_bytes, x.max_delay_ms);
}

} // namespace fleet
