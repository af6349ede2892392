#pragma once

#include "fleet/metrics.hpp"
#include "fleet/store.hpp"

#include <caf/error.hpp>

#include <functional>
#include <memory>
#include <vector>

namespace fleet {

/// Runs write jobs against the store, in the order they were posted, each in a transaction of its
/// own, and hands back their outcomes in that order. The threaded pipeline keeps SQLite's work and
/// its fsync off the caller's thread: the fleet manager goes on dispatching while a group commits.
class write_pipeline {
public:
  /// Runs inside BEGIN IMMEDIATE ... COMMIT; an error rolls the transaction back.
  using job = std::function<caf::error(fleet_store&)>;

  virtual ~write_pipeline() = default;

  /// Queues `j`. Its outcome is ready for `take_outcomes` once `notify` (from the factory) ran.
  virtual void post(job j) = 0;

  /// Runs `j` after every job posted before it and waits for it: its outcome is returned here, not
  /// handed to `take_outcomes`. For start-up, when nothing may happen before the job committed.
  virtual caf::error run(job j) = 0;

  /// The outcomes of the jobs finished since the last call, oldest first.
  virtual std::vector<caf::error> take_outcomes() = 0;
};

/// Runs each job at once, on the caller's thread (deterministic tests); `notify` is called after
/// every job, from within `post`.
/// `latency`, when given, observes each successful transaction, BEGIN to COMMIT.
std::unique_ptr<write_pipeline> make_inline_pipeline(std::shared_ptr<fleet_store> store,
                                                     std::function<void()> notify,
                                                     histogram* latency = nullptr);

/// Runs jobs on a thread of its own; `notify` is called on that thread whenever outcomes become
/// ready after none were. The destructor finishes every posted job, then joins.
std::unique_ptr<write_pipeline> make_threaded_pipeline(std::shared_ptr<fleet_store> store,
                                                       std::function<void()> notify,
                                                       histogram* latency = nullptr);

} // namespace fleet
