#pragma once

#include "fleet/metrics.hpp"
#include "fleet/store.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace fleet {

/// Runs write jobs against the store, in the order they were posted, each in a transaction of its
/// own, and hands back their outcomes in that order. The threaded pipeline keeps SQLite's work and
/// its fsync off the caller's thread: the fleet manager goes on dispatching while a group commits.
///
/// Jobs commit in the order they were posted or not at all: once a job fails for lack of storage
/// (errc::storage_unavailable, errc::database_damaged), or a `prerequisite` job fails for any
/// reason, every job posted before the next `resume()` fails with the same error code without
/// running. Otherwise a later group commit could land while an earlier one did not, say an
/// attempt's end without the start that the failed group held, and the caller, which writes the
/// failed group again, would write it after the later one.
class write_pipeline {
public:
  /// Runs inside BEGIN IMMEDIATE ... COMMIT; an error rolls the transaction back.
  using job = std::function<caf::error(fleet_store&)>;

  /// What a failure of a posted job holds back.
  enum class kind {
    /// Only a refusal for lack of storage holds the jobs behind it back; any other error is the
    /// job's own (a submit refused as a duplicate, say).
    independent,
    /// The jobs behind it build on what it writes (a group commit: a later group ends the
    /// attempts it starts): any error holds them back, a busy lock or a constraint as much as a
    /// full disk.
    prerequisite,
  };

  virtual ~write_pipeline() = default;

  /// Queues `j`. Its outcome is ready for `take_outcomes` once `notify` (from the factory) ran.
  virtual void post(job j, kind k = kind::independent) = 0;

  /// Runs `j` after every job posted before it and waits for it: its outcome is returned here, not
  /// handed to `take_outcomes`, and a refusal of it holds no later job back. For start-up, when
  /// nothing may happen before the job committed.
  virtual caf::error run(job j) = 0;

  /// The outcomes of the jobs finished since the last call, oldest first.
  virtual std::vector<caf::error> take_outcomes() = 0;

  /// After a refused job: jobs posted from now on run again. Call it once the outcome of every job
  /// posted before has been taken (and what is to be written again is posted anew, in order).
  void resume() { ++epoch_; }

protected:
  /// Stamps each job when it is posted (on the caller's thread).
  uint64_t epoch() const { return epoch_; }

  /// The writer's side of the ordering: runs `j` of `epoch` unless a job of that epoch was refused.
  caf::error run_in_order(uint64_t epoch, kind k, const std::function<caf::error()>& j);

private:
  uint64_t epoch_ = 0;          ///< the caller's thread
  uint64_t refused_epoch_ = ~uint64_t{0}; ///< the writer's thread, as the refusal
  caf::error refusal_;
};

/// Whether a job failed for lack of storage (errc::storage_unavailable, errc::database_damaged),
/// which holds back the jobs posted behind it.
bool refused_for_storage(const caf::error& err);

/// Whether the failure `err` of a job of kind `k` holds back the jobs posted behind it.
bool holds_back(write_pipeline::kind k, const caf::error& err);

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
