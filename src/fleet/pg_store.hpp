#pragma once

// fleetd's store on PostgreSQL (issue 24): the writes of store.hpp's fleet_store beside pg_reader's
// reads, on one connection. The same rows and answers as sqlite_store (the conformance suite,
// tests/unit/store_conformance_test.cpp, runs the same cases on both); the differences are in how
// a group is written: the rows of a group commit go to the server as one array per column
// (unnest), since every statement is a network round trip here.

#include "fleet/leader_lease.hpp"
#include "fleet/pg.hpp"
#include "fleet/pg_array.hpp"
#include "fleet/pg_reader.hpp"
#include "fleet/store.hpp"
#include "fleet/store_plans.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace fleet {

class pg_store final : public fleet_store, public pg_reader {
public:
  /// Connects with `conninfo`, migrates the schema (schema/postgres/) and reads where the next
  /// task's seq starts. With a `lease`, every write transaction is fenced by it (its term's
  /// attempts carry its epoch) and the session is guarded (leader_lease::guard_session); the
  /// lease must outlive the store. Without one, attempts carry epoch 0: one fleetd, no standby.
  static caf::expected<std::unique_ptr<pg_store>> open(const std::string& conninfo,
                                                       const leader_lease* lease = nullptr);

  ~pg_store() override;

  /// BEGIN, then the lease's fence (if any) on `begin()`.
  store_transaction transaction() override;

  using fleet_store::record;
  caf::expected<std::unique_ptr<store_reader>> open_reader() const override;
  caf::error save_config_overrides(const config_update& update, int64_t now, bool record) override;
  caf::error reset_config_overrides(const config_update& file_values, int64_t now) override;
  caf::error set_queue(const std::string& name, const queue_change& change, const queue_limits& in_force,
                       int64_t now) override;
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
  /// PostgreSQL's autovacuum reuses the space of deleted rows: nothing to do here, 0 bytes.
  caf::expected<int64_t> reclaim_space(int64_t max_pages) override;
  caf::error save_schedule(const schedule_row& row) override;
  caf::expected<bool> delete_schedule(const std::string& name) override;
  caf::error log_event(int64_t at, event_kind kind, const std::string& batch_id, const std::string& task_id,
                       const std::string& detail_json) override;

  /// The term this store writes in (0 without a lease).
  int64_t epoch() const;

  /// Called (from the writer's thread) when a COMMIT's connection broke before it answered: the
  /// commit may or may not have happened, and retrying the group would repeat it if it did. fleetd
  /// steps down (exits) so that the next term starts from what was stored.
  void on_ambiguous_commit(std::function<void(const std::string&)> handler) {
    ambiguous_commit_ = std::move(handler);
  }

private:
  class task_writer;

  pg_store(pg::connection db, const leader_lease* lease, int64_t next_seq);

  /// The one way a batch is stored (see sqlite_store::store_batch).
  caf::error store_batch(const std::string& batch_id, int64_t total, int64_t now, const std::string& upload_id,
                         const std::function<caf::expected<int64_t>(task_writer&)>& insert_tasks);
  caf::error link_dependencies(int64_t first_seq, int64_t last_seq);
  caf::expected<int64_t> count_edges(int64_t first_seq, int64_t last_seq);
  caf::expected<int64_t> settle_dependents(int64_t seq, const std::string& batch_id, const std::string& task_id,
                                           task_disposition next, int64_t at);
  caf::expected<int64_t> replay_with_dependencies(const std::string& batch_id, const std::vector<std::string>& named,
                                                  int64_t now, const batch_range_row& range);
  caf::expected<bool> finish_if_done(const std::string& batch_id, int64_t at);
  caf::error add_to_batch(const std::string& batch_id, int64_t succeeded, int64_t failed, int64_t cancelled);
  /// The ends of one round (each task at most once) and what they mean for their batches.
  caf::error record_ends(const std::vector<std::pair<const attempt_ended*, const attempt_started*>>& ends,
                         std::map<std::string, batch_delta>& deltas);
  caf::error apply_deltas(const std::map<std::string, batch_delta>& deltas, milestones& out);
  caf::error record_unrecorded_starts(const std::vector<start_journal::entry>& starts, int64_t now,
                                      int32_t max_interruptions, recovery& out);
  /// Runs `sql` with `params` and answers how many rows it changed.
  caf::expected<int64_t> change(std::string_view sql, std::vector<pg::param> params);
  template <class... Ts>
  caf::expected<int64_t> changed(std::string_view sql, Ts&&... xs) {
    return change(sql, std::vector<pg::param>{pg::to_param(std::forward<Ts>(xs))...});
  }
  pg::param requester_param() const;

  const leader_lease* lease_;
  int64_t next_seq_; ///< the seq the next task gets (one writer: this store)
  std::function<void(const std::string&)> ambiguous_commit_;
};

} // namespace fleet
