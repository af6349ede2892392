#pragma once

// What the store's backends share between reading a row and answering with it: the row's values as
// plain fields, and the rules that turn them into answers (a batch's state, a page of results held
// to a byte bound, the fleet's figures). Each backend reads its columns; the answers cannot drift.

#include "fleet/schedule_row.hpp"
#include "fleet/transitions.hpp"
#include "fleetd/batch_state.hpp"
#include "fleetd/fleet_config.hpp"
#include "fleetd/fleet_stats.hpp"
#include "fleetd/task.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace fleet {

/// The columns of a `batches` row that a status shows.
struct batch_row {
  int64_t total = 0, succeeded = 0, failed = 0, cancelled = 0;
  int64_t created_at = 0, started_at = 0, finished_at = 0, scheduled = 0;
  bool started = false;          ///< started_at is set
  bool cancel_requested = false; ///< cancelled_at is set
  bool paused = false;           ///< paused_at is set
  std::string key;               ///< client_key, "" for none
};

/// The refusal of a batch id that no batch has.
caf::error unknown_batch(const std::string& id);

/// Sets field `name` of `out` to a stored override (booleans are stored as 0/1): invalid_config
/// for a field or value the database should not hold.
caf::error apply_stored_setting(config_update& out, const std::string& name, config_value value);

/// The refusal of a stored override that is not a number.
caf::error stored_setting_not_a_number(const std::string& name);

/// The status of a batch from its row (its derived state and progress included).
batch_status to_batch_status(const batch_row& row, std::string batch_id);

// -- column layouts that every backend selects in this order ---------------------------------
// `Row` reads the current row's columns: i64(c) (0 for NULL), null(c), text(c) ("" for NULL).

/// total, succeeded, failed, cancelled, created_at, started_at, finished_at, cancelled_at,
/// paused_at, scheduled, client_key
template <class Row>
batch_status read_batch_status(Row&& r, std::string batch_id) {
  batch_row row;
  row.total = r.i64(0);
  row.succeeded = r.i64(1);
  row.failed = r.i64(2);
  row.cancelled = r.i64(3);
  row.created_at = r.i64(4);
  row.started = !r.null(5);
  row.started_at = r.i64(5);
  row.finished_at = r.i64(6);
  row.cancel_requested = !r.null(7);
  row.paused = !r.null(8);
  row.scheduled = r.i64(9);
  row.key = r.text(10);
  return to_batch_status(row, std::move(batch_id));
}

/// seq, batch_id, task_id, type, attempts, error, finished_at
template <class Row>
dead_letter read_dead_letter(Row&& r) {
  dead_letter d;
  d.batch_id = r.text(1);
  d.task_id = r.text(2);
  d.type = r.text(3);
  d.attempts = static_cast<int32_t>(r.i64(4));
  d.error = r.text(5);
  d.failed_at = r.i64(6);
  return d;
}

/// The columns of runnable_select (store_sql.hpp): seq, batch_id, task_id, type, data, priority,
/// attempts, interruptions, replay_base, not_before, orphaned_attempts, the four policy fields,
/// dependencies, queue, task_group, the dependencies' results (up to max_inline_dependency_bytes)
template <class Row>
runnable_task read_runnable(Row&& row) {
  runnable_task r;
  r.seq = row.i64(0);
  r.batch_id = row.text(1);
  r.spec.id = row.text(2);
  r.spec.type = row.text(3);
  r.spec.data = row.text(4);
  r.spec.priority = static_cast<int32_t>(row.i64(5));
  r.attempts = static_cast<int32_t>(row.i64(6));
  r.interruptions = static_cast<int32_t>(row.i64(7));
  r.replay_base = static_cast<int32_t>(row.i64(8));
  r.ready_at = row.i64(9);
  r.orphaned = static_cast<int32_t>(row.i64(10));
  r.spec.policy.timeout_ms = row.i64(11);
  r.spec.policy.max_retries = static_cast<int32_t>(row.i64(12));
  r.spec.policy.backoff_ms = row.i64(13);
  r.spec.policy.retry = static_cast<int8_t>(row.i64(14));
  r.dependencies = static_cast<int32_t>(row.i64(15));
  r.spec.queue = row.text(16);
  if (!row.null(17))
    r.spec.group = row.text(17);
  if (!row.null(18))
    r.spec.deps = row.text(18);
  return r;
}

/// The columns of the schedules table in schedule_columns' order.
inline constexpr std::string_view schedule_columns =
  "name, cron, time_zone, every_ms, tasks, missed, overlap, paused_at, source, created_at, updated_at, "
  "handled_until, last_slot, last_batch_id, fired, skipped, missed_slots";

template <class Row>
schedule_row read_schedule(Row&& r) {
  schedule_row x;
  x.name = r.text(0);
  x.cron = r.text(1);
  x.time_zone = r.text(2);
  x.every_ms = r.i64(3);
  x.tasks_json = r.text(4);
  x.missed = r.text(5);
  x.overlap = r.i64(6) != 0;
  x.paused_at = r.i64(7);
  x.source = r.text(8);
  x.created_at = r.i64(9);
  x.updated_at = r.i64(10);
  x.handled_until = r.i64(11);
  x.last_slot = r.i64(12);
  x.last_batch_id = r.text(13);
  x.fired = r.i64(14);
  x.skipped = r.i64(15);
  x.missed_slots = r.i64(16);
  return x;
}

/// The sums over all batches (the `fleet_totals` row).
struct store_totals {
  int64_t batches = 0, tasks = 0, succeeded = 0, failed = 0, cancelled = 0, retries = 0, duration_ms = 0,
          scheduled = 0;
  int64_t unfinished() const { return tasks - succeeded - failed - cancelled; }
};

/// The fleet's figures from the sums and the attempts running now.
fleet_stats to_stats(const store_totals& sums, int64_t running);

/// The coordinator's summary of every finished result.
result_summary to_result_summary(const store_totals& sums);

/// A page of results, filled in seq order: at least one result, and no more than about
/// `max_bytes` of them.
class results_page_builder {
public:
  results_page_builder(int64_t cursor, int64_t limit, size_t max_bytes);

  /// Takes the result of task `seq`; false (and nothing taken) once the page is full.
  bool add(int64_t seq, task_result r);

  /// The page, `done` when nothing was left out.
  results_page finish();

private:
  results_page page_;
  int64_t limit_;
  size_t max_bytes_;
  size_t bytes_ = 0;
  bool full_ = false;
};

/// The refusal of a batch's results that one answer cannot carry.
caf::error results_too_big(const std::string& batch_id, size_t max_bytes);

// -- walks of the runnable index in run order (priority descending, then seq) ------------------

using runnable_list = std::vector<runnable_task>;

/// Up to `limit` tasks of one priority whose seq lies in [first, last], in seq order.
using read_priority = std::function<caf::expected<runnable_list>(int32_t priority, int64_t first, int64_t last,
                                                                 int64_t limit)>;
/// Up to `limit` tasks with a priority below `above` and above `below`, in run order.
using read_priorities = std::function<caf::expected<runnable_list>(int32_t above, int32_t below, int64_t limit)>;

/// Up to `limit` tasks after `after` in run order: the rest of its priority, then the ones below.
caf::expected<runnable_list> runnable_after(size_t limit, const run_position& after, const read_priority& same,
                                            const read_priorities& lower);

/// Up to `limit` tasks from `from` up to `up_to` (both included) in run order: the rest of
/// `from`'s priority, the priorities in between, then `up_to`'s up to it. Empty when `from` comes
/// after `up_to`.
caf::expected<runnable_list> runnable_between(size_t limit, const run_position& from, const run_position& up_to,
                                              const read_priority& at, const read_priorities& between);

} // namespace fleet
