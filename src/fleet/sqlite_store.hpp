#pragma once

// fleetd's store on SQLite: the backend of store.hpp's interfaces that fleetd runs on by default.
// One file (WAL), a writing connection and read-only ones beside it.

#include "fleet/sqlite.hpp"
#include "fleet/store.hpp"
#include "fleet/store_plans.hpp"
#include "fleet/store_rows.hpp"
#include "fleet/task_ends.hpp"
#include "fleet/wal_checkpointer.hpp"

#include <map>
#include <memory>
#include <span>
#include <string>

namespace fleet {

/// The reads on SQLite. fleetd's manager queries through one opened read-only (`query_only`)
/// beside the writer; with WAL it reads the last commit while the writer writes the next.
class sqlite_reader : public virtual store_reader {
public:
  ~sqlite_reader() override;

  caf::expected<config_update> load_config_overrides() override;
  caf::expected<int64_t> unfinished_batches() override;
  caf::expected<int64_t> upload_size(const std::string& upload_id) override;
  caf::expected<std::string> batch_for_key(const std::string& key) override;
  caf::expected<bool> fleet_paused() override;
  caf::expected<dead_letter_page> dead_letters(const std::string& batch_id, int64_t cursor, int64_t limit) override;
  caf::expected<std::vector<runnable_task>> next_runnable(const std::string& queue, size_t limit,
                                                          const std::optional<run_position>& after) override;
  caf::expected<fleet::dependency_results> dependency_results(int64_t seq, int64_t max_bytes) override;
  caf::expected<std::vector<runnable_task>> runnable_of_group(const std::string& queue, const std::string& group,
                                                              size_t limit, const run_position& from,
                                                              const run_position& up_to) override;
  caf::expected<bool> begin_reads() override;
  caf::error end_reads() override;
  caf::expected<std::map<std::string, int64_t>> pending_by_queue() override;
  caf::expected<std::vector<std::string>> queues_with_unfinished_tasks() override;
  caf::expected<std::map<std::string, queue_change>> stored_queues() override;
  caf::expected<caf::optional<int64_t>> next_due() override;
  caf::expected<batch_status> status(const std::string& batch_id) override;
  caf::expected<std::string> task_state(const std::string& batch_id, const std::string& task_id) override;
  caf::expected<std::vector<batch_status>> recent_batches(int64_t limit) override;
  caf::expected<std::vector<dead_letter>> recent_failures(int64_t limit) override;
  using store_reader::results;
  caf::expected<results_page> results(const std::string& batch_id, int64_t cursor, int64_t limit,
                                      size_t max_bytes) override;
  caf::expected<task_page> task_rows(const std::string& batch_id, int64_t cursor, int64_t limit) override;
  caf::expected<int64_t> finished_count(const std::string& batch_id) override;
  caf::expected<int64_t> first_seq(const std::string& batch_id) override;
  caf::expected<fleet_stats> stats() override;
  caf::expected<store_totals> totals() override;
  caf::expected<std::optional<std::pair<std::string, int64_t>>> oldest_finished(int64_t before) override;
  std::string file() const override { return db_.filename(); }
  caf::expected<std::vector<schedule_row>> schedules() override;
  caf::expected<std::optional<schedule_row>> schedule(const std::string& name) override;

protected:
  friend class sqlite_store; // opens readers (open_reader)
  struct statements;
  sqlite_reader(sqlite::database db, std::unique_ptr<statements> reads);
  /// The read statements on `db`; the first error if one cannot be prepared.
  static caf::expected<std::unique_ptr<statements>> prepare_reads(sqlite::database& db);

  struct batch_range_row {
    int64_t first_seq = 0, last_seq = 0, finished = 0;
  };
  caf::expected<batch_range_row> read_batch_range(const std::string& batch_id);

  sqlite::database db_;
  std::unique_ptr<statements> reads_;
};

/// The writes on SQLite (and the reads inside its transactions), on the writing connection.
class sqlite_store final : public fleet_store, public sqlite_reader {
public:
  /// Opens or creates the file, sets WAL, foreign keys, busy timeout and `synchronous`,
  /// and migrates the schema.
  static caf::expected<std::unique_ptr<sqlite_store>> open(const store_options& opts);

  ~sqlite_store() override;

  /// BEGIN IMMEDIATE on `begin()`.
  store_transaction transaction() override;

  using fleet_store::record;
  caf::expected<std::unique_ptr<store_reader>> open_reader() const override;
  caf::error save_config_overrides(const config_update& update, int64_t now, bool record) override;
  caf::error reset_config_overrides(const config_update& file_values, int64_t now) override;
  caf::error set_queue(const std::string& name, const queue_change& change, const queue_limits& in_force, int64_t now) override;
  caf::error insert_batch(const std::string& batch_id, const std::vector<task>& tasks, int64_t now) override;
  caf::error open_upload(const std::string& upload_id, int64_t now) override;
  caf::expected<int64_t> stage_chunk(const std::string& upload_id, const std::vector<upload_part>& chunk) override;
  caf::expected<int64_t> seal_upload(const std::string& upload_id, const std::string& batch_id,
                                     int64_t now) override;
  caf::error set_batch_key(const std::string& batch_id, const std::string& key) override;
  caf::error discard_upload(const std::string& upload_id) override;
  caf::expected<bool> set_batch_paused(const std::string& batch_id, bool paused, int64_t now) override;
  caf::expected<bool> set_fleet_paused(bool paused, int64_t now) override;
  caf::expected<int64_t> record_run_start(int64_t now, int64_t pid, const std::string& version,
                                          const std::string& detail) override;
  caf::error record_run_stop(int64_t run, int64_t now, int64_t running, int64_t clock_steps_ms) override;
  caf::expected<int64_t> record_clock_step(int64_t from, int64_t by_ms, int64_t since) override;
  caf::expected<int64_t> pull_in_future_retries(int64_t now, int64_t backoff_cap_ms) override;
  caf::expected<int64_t> replay(const std::string& batch_id, const std::vector<std::string>& task_ids,
                                int64_t now) override;
  caf::expected<int64_t> expire_uploads(int64_t older_than) override;
  caf::expected<promotion> promote_due(int64_t now, int64_t slice) override;
  caf::expected<milestones> record(const std::vector<transition>& changes) override;
  caf::error save_progress(const std::vector<progress_report>& reports) override;
  caf::expected<std::optional<cancelled_batch>> cancel_batch(const std::string& batch_id, int64_t now) override;
  caf::expected<cancelled_batch> cancel_tasks(const std::string& batch_id, const std::vector<std::string>& task_ids,
                                              int64_t now) override;
  caf::expected<recovery> recover_interrupted(int64_t now, int32_t max_interruptions,
                                              const std::vector<start_journal::entry>& starts,
                                              const std::vector<stopped_orphan>& orphans,
                                              bool hold_node_attempts) override;
  caf::expected<prune_progress> prune_step(int64_t now, const retention_policy& policy, int64_t max_rows) override;
  caf::expected<int64_t> reclaim_space(int64_t max_pages) override;
  caf::error save_schedule(const schedule_row& row) override;
  caf::expected<bool> delete_schedule(const std::string& name) override;
  caf::error log_event(int64_t at, event_kind kind, const std::string& batch_id,
                       const std::string& task_id, const std::string& detail_json) override;

private:
  static caf::expected<std::unique_ptr<sqlite_store>> with_statements(sqlite::database db);
  /// Registers fleet_pruning() on `db` (the events trigger asks it): a flag owned by SQLite, true
  /// only while prune_step deletes old events.
  static caf::expected<bool*> register_pruning_flag(sqlite::database& db);



  caf::error record_start(const attempt_started& x, std::map<std::string, batch_delta>& deltas);
  /// `err`, the failed insert of start `x`, or what says that its attempt is stored already.
  caf::error start_stored_twice(const attempt_started& x, caf::error err);
  /// The attempts row of an end: the whole row if `start` is in the same group, else its end.
  caf::error record_attempt_end(const attempt_ended& x, const attempt_started* start);
  /// The tasks of ends whose attempts rows are written (of different tasks, none with dependents
  /// to settle), several per statement, and what count_task_end adds.
  caf::error record_task_ends(std::span<const task_end_writer::row> rows,
                              std::map<std::string, batch_delta>& deltas);
  /// A task's end for good once batches with dependencies are stored: its attempts row, its task,
  /// its dependents released or skipped, and what count_task_end adds.
  caf::error record_end_settling_dependents(const attempt_ended& x, const attempt_started* start,
                                            std::map<std::string, batch_delta>& deltas);
  /// An end's share of its batch's counters, and its event unless it succeeded.
  caf::error count_task_end(const task_end_writer::row& r, std::map<std::string, batch_delta>& deltas);
  caf::error apply_deltas(const std::map<std::string, batch_delta>& deltas, milestones& out);
  caf::error record_unrecorded_starts(const std::vector<start_journal::entry>& starts, int64_t now,
                                      int32_t max_interruptions, recovery& out);
  /// Marks the batch finished at `at` if all its tasks are done and it was not yet, with its
  /// batch_finished event: whether it did.
  caf::expected<bool> finish_if_done(const std::string& batch_id, int64_t at);
  caf::error mark_batch_started(const std::string& batch_id, int64_t at, milestones& out);
  /// The one way a batch is stored, for a submit and a seal: its row, its `total` tasks by
  /// `insert_tasks` (which returns the seq of the last one), their seq range, the batch_submitted
  /// event (with the upload, if any).
  caf::error store_batch(const std::string& batch_id, int64_t total, int64_t now, const std::string& upload_id,
                         const std::function<caf::expected<int64_t>()>& insert_tasks);
  // -- dependencies (store_dependencies.cpp) ----------------------------------

  /// The edges of a submitted batch's tasks, validated (validate_dependencies); `first_seq` is
  /// the seq of tasks[0].
  caf::error insert_dependencies(const std::string& batch_id, const std::vector<task>& tasks, int64_t first_seq);
  /// The edges of a moved part's tasks (`first_seq`: its first task's seq), after every part of
  /// the batch moved: an id that is no task of the batch is refused, naming the task.
  caf::error move_part_dependencies(const std::string& upload_id, int64_t first, int64_t first_seq,
                                    const std::string& batch_id);
  /// Once a batch's tasks and edges are stored: each task with dependencies `blocked`, the counts
  /// set, and a cycle refused (naming it). Nothing for a batch without edges.
  caf::error link_dependencies(int64_t first_seq, int64_t last_seq);
  /// How many tasks run after task `seq` (its `dependents`).
  caf::expected<int64_t> dependents_count(int64_t seq);
  /// What the end of task `seq` (which has dependents) means for them: a success releases them,
  /// a failure for good or a cancel skips every blocked task below it (one tasks_skipped event).
  /// Returns how many were skipped: the caller counts them failed.
  caf::expected<int64_t> settle_dependents(int64_t seq, const std::string& batch_id, const std::string& task_id,
                                           task_disposition next, int64_t at);
  /// A replay in a batch with edges: `named` (empty: every failed task) and the tasks they
  /// skipped, except skipped tasks that another failed or cancelled task keeps from running;
  /// replayed tasks whose dependencies have not all succeeded are blocked again.
  caf::expected<int64_t> replay_with_dependencies(const std::string& batch_id, const std::vector<std::string>& named,
                                                  int64_t now, const batch_range_row& range);
  /// Edges of the batch whose tasks are first_seq..last_seq.
  caf::expected<int64_t> count_edges(int64_t first_seq, int64_t last_seq);

  /// Moves one staged part into `tasks` (and its tasks' policies): the seq of its last task.
  caf::expected<int64_t> move_staged_part(const std::string& upload_id, int64_t first, int64_t tasks,
                                          const std::string& batch_id, int64_t now);

  struct statements;
  sqlite_store(sqlite::database db, std::unique_ptr<sqlite_reader::statements> reads,
              std::unique_ptr<statements> stmts);
  std::unique_ptr<statements> stmts_;
  std::unique_ptr<task_end_writer> task_ends_;
  bool* pruning_events_ = nullptr;
  /// Whether a batch with dependencies was ever stored (task_deps had a row at open, or
  /// link_dependencies linked one since; a rollback leaves it set, which costs a lookup only):
  /// until then an ended task cannot have dependents, and record() does not look.
  bool dependencies_stored_ = true;
  /// Checkpoints the WAL beside the writer (store_options::checkpoint_thread). Last: it stops, and
  /// leaves this connection, before anything else goes.
  std::unique_ptr<sqlite::wal_checkpointer> checkpointer_;
};

} // namespace fleet
