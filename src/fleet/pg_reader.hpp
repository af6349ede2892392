#pragma once

#include "fleet/pg.hpp"
#include "fleet/store.hpp"
#include "fleet/store_rows.hpp"

#include <memory>
#include <string>

namespace fleet {

/// The store's reads on PostgreSQL (issue 24, in progress: the writes are still to come). Every
/// read answers as sqlite_reader does for the same rows; tests/unit/pg_reader_test.cpp loads the
/// same rows into both and compares every call.
class pg_reader : public virtual store_reader {
public:
  /// Reads through `db`, whose search_path names a migrated schema.
  explicit pg_reader(pg::connection db);
  ~pg_reader() override;

  caf::expected<config_update> load_config_overrides() override;
  caf::expected<int64_t> unfinished_batches() override;
  caf::expected<int64_t> upload_size(const std::string& upload_id) override;
  caf::expected<std::string> batch_for_key(const std::string& key) override;
  caf::expected<bool> fleet_paused() override;
  caf::expected<dead_letter_page> dead_letters(const std::string& batch_id, int64_t cursor, int64_t limit) override;
  /// 256: a no-op run reads its window four times less often, and ran 9% and 20% faster in the
  /// medians of two alternating runs (docs/BENCHMARKS.md).
  size_t window_rows() const override { return 256; }
  caf::expected<std::vector<runnable_task>> next_runnable(const std::string& queue, size_t limit,
                                                          const std::optional<run_position>& after) override;
  caf::expected<std::vector<runnable_task>> runnable_of_group(const std::string& queue, const std::string& group,
                                                              size_t limit, const run_position& from,
                                                              const run_position& up_to) override;
  caf::expected<fleet::dependency_results> dependency_results(int64_t seq, int64_t max_bytes) override;
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
  /// The database, for messages ("database "x" on host:port"): there is no file.
  std::string file() const override;
  caf::expected<std::vector<schedule_row>> schedules() override;
  caf::expected<std::optional<schedule_row>> schedule(const std::string& name) override;

protected:
  struct batch_range_row {
    int64_t first_seq = 0, last_seq = 0, finished = 0;
  };
  caf::expected<batch_range_row> read_batch_range(const std::string& batch_id);
  caf::expected<std::vector<runnable_task>> runnable(const std::string& where, std::vector<pg::param> params);
  /// The running tasks `seqs` (in seq order) in the columns of a runnable read: attempts held for
  /// their node at recovery.
  caf::expected<std::vector<runnable_task>> running_tasks(const std::vector<int64_t>& seqs);
  /// Runnable tasks of `queue` (and `group`, if not null) with a priority below `above` and above
  /// `below`, in run order.
  caf::expected<std::vector<runnable_task>> lower_priorities(const std::string& queue, const std::string* group,
                                                             int32_t above, int32_t below, int64_t limit);
  caf::expected<std::vector<schedule_row>> select_schedules(const std::string* name);

  pg::connection db_;
};

} // namespace fleet
