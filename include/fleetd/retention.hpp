#pragma once

#include <caf/meta/type_name.hpp>

#include <cstdint>

namespace fleet {

/// What one pruning pass removed (fleet.retain-finished, fleet.retain-events).
struct prune_report {
  int64_t batches = 0;     ///< finished batches deleted with their tasks and attempts
  int64_t tasks = 0;
  int64_t events = 0;      ///< events older than fleet.retain-events
  int64_t bytes_freed = 0; ///< returned to the file system by incremental vacuum
  int64_t ms = 0;          ///< how long the pass took
  int64_t archived = 0;    ///< batches written to fleet.archive-dir (before they were deleted)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, prune_report& x) {
  return f(caf::meta::type_name("fleet.prune_report"), x.batches, x.tasks, x.events, x.bytes_freed, x.ms, x.archived);
}

} // namespace fleet
