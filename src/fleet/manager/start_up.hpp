#pragma once

#include "fleetd/fleet_stats.hpp"
#include "fleet/start_journal.hpp"
#include "fleet/store.hpp"
#include "fleet/write_pipeline.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <vector>

namespace fleet {

/// What the manager learns from its first write job.
struct start_up_state {
  recovery recovered;           ///< attempts a dead process left open, and what became of them
  int64_t expired_uploads = 0;  ///< uploads never sealed, dropped
  int64_t unfinished_tasks = 0; ///< to resume
  bool fleet_paused = false;
  result_summary totals; ///< the coordinator starts from these
};

/// The first write job of every start, one transaction: records the attempts a dead process left
/// open as interrupted (`starts`: the start journal's last run; `orphans`: the programs of the
/// last run stopped before this, see recover_interrupted), drops uploads not sealed since
/// `upload_expiry_before`, and reads what the manager starts from, all as of that commit.
caf::expected<start_up_state> start_up(fleet_store& store, int64_t now, int32_t max_interruptions,
                                       const std::vector<start_journal::entry>& starts,
                                       const std::vector<orphan_stop>& orphans, int64_t upload_expiry_before);

/// `start_up` run by `writer` (write_pipeline::run: after every job posted before, waited for).
caf::expected<start_up_state> run_start_up(write_pipeline& writer, int64_t now, int32_t max_interruptions,
                                           const std::vector<start_journal::entry>& starts,
                                           const std::vector<orphan_stop>& orphans, int64_t upload_expiry_before);

} // namespace fleet
