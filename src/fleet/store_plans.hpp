#pragma once

// Decisions every store backend makes the same way over rows it reads its own way: which tasks a
// replay in a batch with dependencies brings back, and how the attempts a dead fleetd left open
// end. Each backend supplies the reads (a few callbacks) and writes what the plan says; the
// decisions cannot drift between SQLite and PostgreSQL.

#include "fleet/orphans.hpp"
#include "fleet/start_journal.hpp"
#include "fleet/transitions.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fleet {

struct recovery;

// -- a group commit's effect on its batches -------------------------------------------------------

/// What one group of changes adds to a batch's counters, written once per batch and group.
struct batch_delta {
  int64_t succeeded = 0, failed = 0, cancelled = 0, retries = 0, duration_ms = 0, at = 0;
  bool terminal = false;   ///< some task finished: the batch may have too
  int64_t first_start = 0; ///< earliest attempt start in the group, 0 for none
  void note_start(int64_t t) { first_start = first_start == 0 ? t : std::min(first_start, t); }
  /// Counts an attempt's end (its task's next state, its duration, its time).
  void note_end(const attempt_ended& x);
};

/// The task's not_before after an attempt's end: when a retry may start, or since when a
/// requeued task could (its queue wait is measured from there); 0 otherwise.
inline int64_t next_not_before(const attempt_ended& x) {
  return x.next == task_disposition::retry ? x.not_before : x.next == task_disposition::requeue ? x.at : 0;
}

/// The detail of the event an attempt's end writes when its task did not succeed (a success is
/// audited by its attempts row alone): attempt, outcome, error, and for a retry when it may run.
std::string attempt_end_detail(const attempt_ended& x);

/// The starts of a group whose attempts also end within it, by (seq, attempt): each is written
/// with its end as one complete row, wherever in the group the two come.
std::map<std::pair<int64_t, int32_t>, const attempt_started*>
starts_ended_within(const std::vector<transition>& changes);

/// The refusal of a start whose attempt is stored already (by `worker_id`, at `started_at`).
caf::error attempt_already_stored(const attempt_started& x, const std::string& worker_id, int64_t started_at);

/// The refusal of an attempt's end whose start is not stored: committing the end alone would count
/// the attempt in its task with no attempts row to audit it, and the start, should it come later,
/// would make the finished task running again. The group fails and is written again in order.
caf::error end_without_start(const attempt_ended& x);

// -- replay with dependencies --------------------------------------------------------------------

/// A failed task as a replay reads it.
struct failed_task_row {
  int64_t seq = 0;
  bool skipped = false;   ///< failed without running: a task it runs after failed or was cancelled
  int64_t dependents = 0; ///< tasks that run after it
  std::string task_id;
};

/// A task's dependency as a replay reads it.
struct dependency_row {
  int64_t seq = 0;
  std::string state;
  std::string task_id;
};

/// The reads a replay plan needs, by seq within one batch.
struct replay_reads {
  /// Every failed task of the batch.
  std::function<caf::expected<std::vector<failed_task_row>>()> failed;
  /// One failed task by id (the caller checked it is failed).
  std::function<caf::expected<failed_task_row>(const std::string& task_id)> named;
  /// The skipped tasks below a task, through every level.
  std::function<caf::expected<std::vector<int64_t>>(int64_t seq)> skipped_below;
  std::function<caf::expected<std::vector<dependency_row>>(int64_t seq)> dependencies_of;
  std::function<caf::expected<std::vector<int64_t>>(int64_t seq)> dependents_of;
};

/// The seqs a replay brings back, in submission order: the `named` tasks (empty: every failed
/// one) and the tasks they skipped, except skipped tasks that another failed or cancelled task,
/// not replayed, keeps from running. errc::invalid_task when a named task is one of those.
caf::expected<std::vector<int64_t>> plan_replay(const std::string& batch_id, const std::vector<std::string>& named,
                                                const replay_reads& reads);

// -- recovery of attempts a dead fleetd left open -------------------------------------------------

/// A task whose attempt was running when fleetd died.
struct open_attempt_row {
  int64_t seq = 0;
  std::string batch_id;
  std::string task_id;
  int32_t attempt = 0;
  int64_t orphaned = 0;  ///< attempts of it lost before this one
  std::string worker_id; ///< "" when its attempt row is missing
  std::string node;      ///< the fleet-node it ran on; "" for fleetd's own workers
  int64_t started_at = 0;
  bool cancelling = false; ///< its batch was being cancelled
};

/// Splits `running` into the attempts a rejoining node may still report on (with
/// `hold_node_attempts`: on a fleet-node, with an attempt row, of a batch not being cancelled),
/// which are returned, and the rest, left in `running` for plan_interrupted.
std::vector<open_attempt_row> take_held(std::vector<open_attempt_row>& running, bool hold_node_attempts);

/// A task as the start journal's check reads it.
struct journal_task_row {
  std::string batch_id;
  std::string task_id;
  std::string state;
  int64_t attempts = 0;
  int64_t orphaned = 0;
};

/// The starts the journal saw that never reached the database (the task still waits, at an
/// earlier attempt), as an attempt of worker "unrecorded" started and lost; `task` reads a task
/// by seq (none if gone). Counts them in `out`.
caf::expected<std::vector<transition>>
plan_unrecorded_starts(const std::vector<start_journal::entry>& starts, int64_t now, int32_t max_interruptions,
                       const std::function<caf::expected<std::optional<journal_task_row>>(int64_t seq)>& task,
                       recovery& out);

/// An orphan_stopped event to log once the ends are written.
struct orphan_event {
  std::string batch_id;
  std::string task_id;
  const stopped_orphan* orphan = nullptr;
};

/// How the attempts left running end (interrupted, or failed for good once lost
/// `max_interruptions` times), each naming the program of the last run stopped before it ran
/// again, if any; and the orphan_stopped events. Counts them in `out`.
std::pair<std::vector<transition>, std::vector<orphan_event>>
plan_interrupted(const std::vector<open_attempt_row>& running, int64_t now, int32_t max_interruptions,
                 const std::vector<stopped_orphan>& orphans, recovery& out);

} // namespace fleet
