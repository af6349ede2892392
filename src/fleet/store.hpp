#pragma once

#include "fleetd/batch_state.hpp"
#include "fleet/event_kind.hpp"
#include "fleetd/fleet_config.hpp"
#include "fleetd/fleet_stats.hpp"
#include "fleetd/queue.hpp"
#include "fleet/schedule_row.hpp"
#include "fleet/orphans.hpp"
#include "fleet/start_journal.hpp"
#include "fleet/store_options.hpp"
#include "fleet/store_rows.hpp"
#include "fleetd/task.hpp"
#include "fleet/transitions.hpp"
#include "fleet/upload_part.hpp"

#include <caf/expected.hpp>
#include <caf/optional.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fleet {

/// What the start-up recovery did with the attempts a dead process left open.
struct recovery {
  int64_t requeued = 0;   ///< tasks whose recorded attempt was interrupted, pending again
  int64_t unrecorded = 0; ///< of the journal's starts that never reached the database, pending again
  std::vector<attempt_ended> failed; ///< poison tasks: lost too often, failed for good
  std::vector<held_attempt> held;    ///< attempts on fleet-nodes left open, by seq
};

/// A write transaction of a store: `begin`, then `commit`; rolled back on destruction unless
/// committed.
class store_transaction {
public:
  struct backend {
    virtual ~backend();
    virtual caf::error begin() = 0;
    virtual caf::error commit() = 0;
    virtual void rollback() = 0;
  };
  explicit store_transaction(std::unique_ptr<backend> impl) : impl_(std::move(impl)) {}
  caf::error begin() { return impl_->begin(); }
  caf::error commit() { return impl_->commit(); }
  void rollback() { impl_->rollback(); }

private:
  std::unique_ptr<backend> impl_;
};

/// The reads of fleetd's database, on a connection of their own: it offers no write. fleetd's
/// manager queries through one beside the writer's, so that a status never waits for a commit.
/// The interface of every backend; SQLite's is sqlite_reader (sqlite_store.hpp).
class store_reader {
public:
  virtual ~store_reader();

  /// The fields changed at runtime (update_config, scale_workers): they win over the start-up
  /// configuration on restart.
  virtual caf::expected<config_update> load_config_overrides() = 0;
  /// Batches not finished yet (pending or running), for fleet.max-pending-batches.
  virtual caf::expected<int64_t> unfinished_batches() = 0;
  /// Tasks staged so far; errc::unknown_upload for an unknown upload.
  virtual caf::expected<int64_t> upload_size(const std::string& upload_id) = 0;
  /// The batch submitted with client key `key`, or empty.
  virtual caf::expected<std::string> batch_for_key(const std::string& key) = 0;
  /// Whether the whole fleet is paused.
  virtual caf::expected<bool> fleet_paused() = 0;
  /// Failed tasks after `cursor` (0 first), of one batch or (empty id) of all, oldest first.
  virtual caf::expected<dead_letter_page> dead_letters(const std::string& batch_id, int64_t cursor, int64_t limit) = 0;
  /// Up to `limit` pending tasks of `queue` in run order (priority descending, then submission
  /// order), from the first one or from the one after `after`; each part is a seek in the runnable
  /// index.
  virtual caf::expected<std::vector<runnable_task>> next_runnable(const std::string& queue, size_t limit,
                                                                  const std::optional<run_position>& after = {}) = 0;
  /// True if the reads until end_reads() now share one snapshot and one page cache (SQLite: a
  /// reader otherwise empties its cache at its first read after each commit), so that the windows
  /// of many queues read together meet the pages they share once; false if this store has no
  /// such thing (then end_reads is not called). Do not hold it across a wait.
  virtual caf::expected<bool> begin_reads() { return false; }
  virtual caf::error end_reads() { return caf::none; }
  /// How many tasks a read of next_runnable should ask for at least: a read of a file costs about
  /// its rows, a read of a server a round trip and a plan besides.
  virtual size_t window_rows() const { return 64; }
  /// Up to `limit` pending tasks of one group of `queue`, in run order, from position `from` up to
  /// `up_to` (both included) (store_queues.cpp). Costs a pass over the queue's runnable index
  /// between the two, in the index alone.
  virtual caf::expected<std::vector<runnable_task>> runnable_of_group(const std::string& queue, const std::string& group,
                                                                      size_t limit, const run_position& from,
                                                                      const run_position& up_to) = 0;
  /// The results of task `seq`'s dependencies: their size, and the object when that is at most
  /// `max_bytes` (and max_dependency_object_bytes).
  virtual caf::expected<fleet::dependency_results> dependency_results(int64_t seq, int64_t max_bytes) = 0;
  /// Runnable tasks (pending, not paused) by queue; queues without any are left out.
  virtual caf::expected<std::map<std::string, int64_t>> pending_by_queue() = 0;
  /// The queues that hold tasks not ended yet, each once, in no order.
  virtual caf::expected<std::vector<std::string>> queues_with_unfinished_tasks() = 0;
  /// What was set at runtime for each queue (fleetctl queue set), -1 where the config file's
  /// value applies.
  virtual caf::expected<std::map<std::string, queue_change>> stored_queues() = 0;
  /// When the earliest waiting retry or delayed task is due, if any.
  virtual caf::expected<caf::optional<int64_t>> next_due() = 0;
  virtual caf::expected<batch_status> status(const std::string& batch_id) = 0;
  /// A task's state ("pending", "running", ...), or empty if the batch has no such task.
  virtual caf::expected<std::string> task_state(const std::string& batch_id, const std::string& task_id) = 0;
  /// The newest `limit` batches, newest first (walks the table backwards: no sort).
  virtual caf::expected<std::vector<batch_status>> recent_batches(int64_t limit) = 0;
  /// The tasks that failed last (no retry left), the latest failure first, through
  /// tasks_failed_by_time.
  virtual caf::expected<std::vector<dead_letter>> recent_failures(int64_t limit) = 0;
  /// Every finished task; errc::invalid_batch if they hold more than `max_bytes`.
  caf::expected<std::vector<task_result>> results(const std::string& batch_id, size_t max_bytes = SIZE_MAX);
  /// Up to `limit` (negative: all) finished tasks after `cursor` (0: from the start), in order, and
  /// no more than about `max_bytes` of them (always at least one): a page fits in a message.
  virtual caf::expected<results_page> results(const std::string& batch_id, int64_t cursor, int64_t limit,
                                              size_t max_bytes = SIZE_MAX) = 0;
  /// Up to `limit` tasks of a batch after `cursor` (0: from the start), in submission order: each
  /// with its state, attempts, latest stored progress and the tasks it runs after.
  virtual caf::expected<task_page> task_rows(const std::string& batch_id, int64_t cursor, int64_t limit) = 0;
  /// How many tasks of the batch have finished (from its counters).
  virtual caf::expected<int64_t> finished_count(const std::string& batch_id) = 0;
  /// The seq of the batch's first task (its tasks are that seq and the ones after it, in
  /// submission order).
  virtual caf::expected<int64_t> first_seq(const std::string& batch_id) = 0;
  virtual caf::expected<fleet_stats> stats() = 0;
  /// Sums over all batches (the `fleet_totals` row, kept by triggers).
  virtual caf::expected<store_totals> totals() = 0;
  /// Tasks not yet terminal (pending, waiting, running).
  caf::expected<int64_t> unfinished_tasks();
  /// Totals of finished results, to seed the coordinator after a restart.
  caf::expected<result_summary> result_totals();

  /// The finished batch retention deletes next (finished before `before`): its id and finish time.
  virtual caf::expected<std::optional<std::pair<std::string, int64_t>>> oldest_finished(int64_t before) = 0;
  /// The database file.
  virtual std::string file() const = 0;

  // -- schedules (store_schedules.cpp; few rows, read and written rarely) -----

  /// Every schedule, by name.
  virtual caf::expected<std::vector<schedule_row>> schedules() = 0;
  /// One schedule, or none.
  virtual caf::expected<std::optional<schedule_row>> schedule(const std::string& name) = 0;

};

/// Everything fleetd keeps in its database, and the only way to change it: the interface of every
/// backend (SQLite's is sqlite_store, sqlite_store.hpp). One connection, used by one thread at a
/// time. Writes go through this, the writing connection, and only inside a write job
/// (write_pipeline): mutating calls expect the caller to hold a transaction (`begin`), so that many
/// changes share one COMMIT (group commit). It reads too, inside those transactions.
class fleet_store : public virtual store_reader {
public:
  /// Opens the store `opts` names (SQLite: sqlite_store::open).
  static caf::expected<std::unique_ptr<fleet_store>> open(const store_options& opts);

  /// A second, read-only connection to the same file, for queries that must not wait for the
  /// writer: with WAL it reads the last commit while this one writes.
  virtual caf::expected<std::unique_ptr<store_reader>> open_reader() const = 0;

  ~fleet_store() override;

  /// How long the start-up integrity check took (ms), -1 if it did not run.
  int64_t integrity_check_ms() const { return integrity_check_ms_; }
  /// The schema version the file had when it was opened, the version it has now, and how long
  /// migrating took (from 0: a new file).
  struct migration_done {
    int64_t from = 0;
    int64_t to = 0;
    int64_t ms = 0;
  };
  const migration_done& migration() const { return migration_; }

  /// A transaction to wrap mutating calls in.
  virtual store_transaction transaction() = 0;

  // -- configuration ---------------------------------------------------------

  /// Stores the fields `update` sets, next to those stored before.
  /// `record`: also an event config_updated (the autoscaler records its own, which says why).
  virtual caf::error save_config_overrides(const config_update& update, int64_t now, bool record = true) = 0;
  /// Deletes the overrides of the fields `file_values` sets (their values are those of the config
  /// file, for the config_reset event).
  virtual caf::error reset_config_overrides(const config_update& file_values, int64_t now) = 0;
  /// Stores the fields `change` sets for queue `name` (a runtime change, winning over the config
  /// file) and its queue_changed event with the limits now in force.
  virtual caf::error set_queue(const std::string& name, const queue_change& change, const queue_limits& in_force, int64_t now) = 0;

  // -- submission and dispatch -----------------------------------------------


  /// Stores a batch and its tasks (caller validated them).
  virtual caf::error insert_batch(const std::string& batch_id, const std::vector<task>& tasks, int64_t now) = 0;

  // -- uploads: batches submitted in chunks ------------------------------------

  virtual caf::error open_upload(const std::string& upload_id, int64_t now) = 0;
  /// Stages a validated chunk, encoded by encode_upload_chunk. Returns the new total.
  virtual caf::expected<int64_t> stage_chunk(const std::string& upload_id, const std::vector<upload_part>& chunk) = 0;
  /// Turns the upload into batch `batch_id` (all its tasks at once) and drops it. Returns the size.
  /// A task id staged twice fails with errc::duplicate_task_id and the task's position.
  virtual caf::expected<int64_t> seal_upload(const std::string& upload_id, const std::string& batch_id,
                                             int64_t now) = 0;

  /// Gives a batch its client key (unique: a second batch with the key is refused).
  virtual caf::error set_batch_key(const std::string& batch_id, const std::string& key) = 0;
  /// Drops an upload and its staged tasks (a sealed key that already names a batch).
  virtual caf::error discard_upload(const std::string& upload_id) = 0;

  // -- pause and resume -------------------------------------------------------------

  /// Pauses (or resumes) a batch: its tasks leave (or rejoin) the runnable index. False if it was
  /// so already; an error for an unknown or finished batch.
  virtual caf::expected<bool> set_batch_paused(const std::string& batch_id, bool paused, int64_t now) = 0;
  /// Pauses or resumes the whole fleet (false: it was so already).
  virtual caf::expected<bool> set_fleet_paused(bool paused, int64_t now) = 0;

  // -- fleetd's runs (store_runs.cpp) ---------------------------------------------

  /// Marks the runs that never stopped cleanly as found dead (a fleetd_stopped event each, clean
  /// false), then records this run and its fleetd_started event: `detail` is a JSON object, to
  /// which "run" (the id returned) is added.
  virtual caf::expected<int64_t> record_run_start(int64_t now, int64_t pid, const std::string& version,
                                                  const std::string& detail) = 0;
  /// Run `run` stops cleanly, with `running` attempts left for the next start; the wall clock
  /// stepped by `clock_steps_ms` in all while it ran (not part of its uptime).
  virtual caf::error record_run_stop(int64_t run, int64_t now, int64_t running, int64_t clock_steps_ms = 0) = 0;
  /// The wall clock stepped by `by_ms` (it read `from + by_ms` where fleetd expected `from`): the
  /// retries waiting for their backoff since an attempt that failed on the clock that stepped (at
  /// or after `since`, when fleetd started or followed the last step) move with it, so that each
  /// still waits as long as it was told; those of earlier runs, counted on another clock, stay. A
  /// clock_stepped event records the step and how many moved. Returns that number.
  virtual caf::expected<int64_t> record_clock_step(int64_t from, int64_t by_ms, int64_t since) = 0;

  /// At a start: retries waiting longer than any backoff can ask (`backoff_cap_ms`, or the task's
  /// own backoff where that is longer) were scheduled on a clock that was ahead and has been set
  /// back since; each waits the cap from `now` instead. A clock_stepped event with
  /// "found_at_start" records how many moved, if any. Returns that number.
  virtual caf::expected<int64_t> pull_in_future_retries(int64_t now, int64_t backoff_cap_ms) = 0;

  // -- dead letters ----------------------------------------------------------------

  /// Makes failed tasks pending again with a fresh retry budget; their history stays. `task_ids`
  /// empty: every failed task of the batch. All or nothing: an unknown or unfailed task is an
  /// error. Returns how many were replayed.
  virtual caf::expected<int64_t> replay(const std::string& batch_id, const std::vector<std::string>& task_ids,
                                        int64_t now) = 0;

  /// Drops uploads opened before `older_than` and never sealed (their client gave up). Returns
  /// how many.
  virtual caf::expected<int64_t> expire_uploads(int64_t older_than) = 0;


  struct promotion {
    int64_t promoted = 0; ///< retries and delayed tasks made pending
    bool more = false;    ///< more delayed tasks are due than one slice holds
  };
  /// Makes the retries and delayed tasks whose time has come pending: every due retry, and up to
  /// `slice` delayed tasks (earliest first), so that a million tasks due at once never make one
  /// long commit.
  virtual caf::expected<promotion> promote_due(int64_t now, int64_t slice) = 0;


  /// A batch whose first attempt started, or that finished, in a write.
  struct batch_milestone {
    std::string batch_id;
    bool finished = false; ///< false: started
  };
  using milestones = std::vector<batch_milestone>;

  /// Writes a group of state changes in order. An attempt that starts and ends within one group
  /// is written as one complete row, and batch counters are updated once per batch. Returns the
  /// batches that started or finished in it (for the log and subscribers, after the COMMIT).
  virtual caf::expected<milestones> record(const std::vector<transition>& changes) = 0;
  caf::error record(const attempt_started& x);
  caf::error record(const attempt_ended& x);

  /// Whether successes recorded since the last call made tasks that ran after them pending.
  bool take_released() { return std::exchange(released_, false); }

  /// Stores the latest progress of running attempts (only where the task still runs).
  virtual caf::error save_progress(const std::vector<progress_report>& reports) = 0;

  /// What a cancel did to its batch.
  struct cancelled_batch {
    int64_t waiting = 0;   ///< pending and waiting tasks it cancelled
    bool finished = false; ///< nothing ran: the batch finished with the cancel
  };
  /// Marks a batch's pending and waiting tasks cancelled. Running attempts are recorded by the
  /// caller (as `attempt_ended` with `cancelled`) in the same transaction. Nothing if the batch is
  /// unknown, already finished or already cancelled.
  virtual caf::expected<std::optional<cancelled_batch>> cancel_batch(const std::string& batch_id, int64_t now) = 0;
  /// Marks the named tasks cancelled that wait (pending, delayed or waiting for a retry), each with
  /// a task_cancelled event; tasks that run are recorded by the caller (as for cancel_batch), and
  /// finished ones stay as they are. The ids exist (the caller checked).
  virtual caf::expected<cancelled_batch> cancel_tasks(const std::string& batch_id, const std::vector<std::string>& task_ids,
                                                      int64_t now) = 0;

  /// Finds attempts left open by a process that died and records them as interrupted: their
  /// tasks are pending again, except those whose attempts were lost `max_interruptions` times
  /// (fleet.max-interruptions), which fail for good (poison tasks). `starts` are the attempts the
  /// start journal saw begin: those whose start never reached the database are recorded (as
  /// interrupted attempts of worker "unrecorded") and counted the same way.
  /// `orphans`: the programs of the previous run found still running and stopped before this
  /// (stop_orphans): each is named in its attempt's error and written as an orphan_stopped event.
  /// `hold_node_attempts`: an attempt that ran on a fleet-node (of a batch not being cancelled)
  /// stays open, returned in `held`: its node may still run it and rejoin (the manager ends it
  /// as lost if the node does not).
  virtual caf::expected<recovery> recover_interrupted(int64_t now, int32_t max_interruptions,
                                                      const std::vector<start_journal::entry>& starts = {},
                                                      const std::vector<stopped_orphan>& orphans = {},
                                                      bool hold_node_attempts = false) = 0;


  // -- retention (store_retention.cpp) ----------------------------------------

  /// What fleet.retain-finished and fleet.retain-events keep, in ms; 0 keeps everything.
  struct retention_policy {
    int64_t retain_finished_ms = 0;
    int64_t retain_events_ms = 0;
    /// With an archive: the one batch whose rows may go (its archive is written); a step whose
    /// oldest batch is another deletes no batch rows. Empty optional: any batch.
    std::optional<std::string> only_batch;
    std::string archive; ///< its archive file, named in its batch_pruned event
  };
  struct prune_progress {
    int64_t batches = 0; ///< finished batches deleted (their last tasks went in this step)
    int64_t tasks = 0;
    int64_t events = 0;
    bool more = false;   ///< the step used its budget: another may find more
  };
  /// One small step of retention at `now`, inside the caller's transaction: up to `max_rows` tasks
  /// of the oldest batch that finished before now - retain_finished (its attempts with them; the
  /// batch row and a batch_pruned event once its last task is gone), then up to `max_rows` events
  /// older than now - retain_events. Unfinished batches are never touched.
  virtual caf::expected<prune_progress> prune_step(int64_t now, const retention_policy& policy, int64_t max_rows) = 0;
  /// Returns up to `max_pages` free pages to the file system (incremental vacuum): the bytes freed.
  virtual caf::expected<int64_t> reclaim_space(int64_t max_pages) = 0;

  // -- schedules (store_schedules.cpp) ------------------------------------------

  /// Stores a schedule's row, new or changed, whole.
  virtual caf::error save_schedule(const schedule_row& row) = 0;
  /// Deletes a schedule; false if there was none.
  virtual caf::expected<bool> delete_schedule(const std::string& name) = 0;

  /// Who asked for the change being written (JSON, see actors/requesters.hpp), stored with every
  /// event log_event writes until cleared with an empty string. Empty: fleetd itself.
  void set_requester(std::string json) { requester_ = std::move(json); }
  /// Runs `job` (on this store) with `who` as the requester of what it writes; what it returns.
  template <class Job>
  auto as_requested_by(std::string who, Job&& job) {
    set_requester(std::move(who));
    auto out = job();
    set_requester({});
    return out;
  }

  /// Records a plain audit event (with the requester set, if any).
  virtual caf::error log_event(int64_t at, event_kind kind, const std::string& batch_id,
                               const std::string& task_id, const std::string& detail_json) = 0;

protected:
  /// What every backend checks before a replay: the batch exists and was not cancelled, and each
  /// named task exists and failed.
  caf::error check_replay(const std::string& batch_id, const std::vector<std::string>& task_ids);
  /// What every backend checks before pausing or resuming a batch: it exists and has not
  /// finished. False when it is so already (nothing to do).
  caf::expected<bool> check_pause(const std::string& batch_id, bool paused);
  /// Whether a task in `state` waits, so that a cancel ends it without an attempt.
  static bool waits(const std::string& state) {
    return state == "pending" || state == "retry_wait" || state == "scheduled" || state == "blocked";
  }

  std::string requester_;
  int64_t integrity_check_ms_ = -1;
  migration_done migration_;
  bool released_ = false; ///< see take_released
};

} // namespace fleet
