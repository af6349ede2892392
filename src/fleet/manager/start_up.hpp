#pragma once

#include "fleetd/fleet_stats.hpp"
#include "fleet/orphans.hpp"
#include "fleet/start_journal.hpp"
#include "fleet/store.hpp"
#include "fleet/write_pipeline.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fleet {

/// What the first write job of a start works from.
struct start_up_input {
  int64_t now = 0;
  int32_t max_interruptions = 3;
  /// The fleet's backoff_cap_ms: no retry waits longer from now on (see pull_in_future_retries).
  int64_t backoff_cap_ms = 30'000;
  /// The start journal's last run: attempts that may have started without their start committed.
  std::vector<start_journal::entry> starts;
  /// The programs of the last run stopped before this (see recover_interrupted).
  std::vector<stopped_orphan> orphans;
  /// Attempts on fleet-nodes stay open for their nodes to rejoin (recover_interrupted).
  bool hold_node_attempts = false;
  /// Uploads not sealed since this time are dropped.
  int64_t upload_expiry_before = 0;
  /// fleetd's own start, recorded as a run with its fleetd_started event (`detail`); none for a
  /// manager that is not fleetd (tests, an embedding that records nothing).
  struct run_start {
    int64_t pid = 0;
    std::string version;
    std::string detail;
  };
  std::optional<run_start> run;
};

/// What the manager learns from its first write job.
struct start_up_state {
  recovery recovered;           ///< attempts a dead process left open, and what became of them
  int64_t expired_uploads = 0;  ///< uploads never sealed, dropped
  int64_t retries_pulled_in = 0; ///< retries scheduled on a clock that was ahead
  int64_t unfinished_tasks = 0; ///< to resume
  bool fleet_paused = false;
  result_summary totals; ///< the coordinator starts from these
  int64_t run = 0;       ///< this run's row in fleetd_runs (0: none recorded)
};

/// The first write job of every start, one transaction: records the runs that ended without a
/// clean stop and this one (if `in.run`), the attempts a dead process left open as interrupted,
/// brings in retries scheduled on a clock that was ahead, drops expired uploads, and reads what
/// the manager starts from, all as of that commit.
caf::expected<start_up_state> start_up(fleet_store& store, const start_up_input& in);

/// `start_up` run by `writer` (write_pipeline::run: after every job posted before, waited for).
caf::expected<start_up_state> run_start_up(write_pipeline& writer, const start_up_input& in);

} // namespace fleet
