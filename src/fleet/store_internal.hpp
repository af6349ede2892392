#pragma once

// What the files of fleet_store (store*.cpp) share: the prepared statements and row helpers. Not
// installed, not included outside src/fleet/store*.cpp.

#include "fleetd/error.hpp"
#include "fleet/sqlite.hpp"
#include "fleet/sqlite_store.hpp"

#include <fmt/format.h>

#include <string>

namespace fleet {

struct sqlite_reader::statements {
  sqlite::statement task_state;
  sqlite::statement load_config;
  sqlite::statement upload_size;
  sqlite::statement batch_range;
  sqlite::statement next_runnable;
  sqlite::statement runnable_same_priority;
  sqlite::statement runnable_lower_priority;
  sqlite::statement group_runnable_at;
  sqlite::statement group_runnable_between;
  sqlite::statement dependency_results;
  sqlite::statement next_due;
  sqlite::statement batch_next_scheduled;
  sqlite::statement batch_row;
  sqlite::statement batch_results;
  sqlite::statement totals;
  sqlite::statement running_count;
  sqlite::statement unfinished_batches;
  sqlite::statement batch_for_key;
  sqlite::statement dead_letters;
  sqlite::statement fleet_paused;
  sqlite::statement recent_batches;
  sqlite::statement recent_failures;
  sqlite::statement count_blocked;
  sqlite::statement batch_tasks;
};

struct sqlite_store::statements {
  sqlite::statement save_config;
  sqlite::statement delete_config;
  sqlite::statement insert_batch;
  sqlite::statement insert_task;
  sqlite::statement insert_policy;
  sqlite::statement set_batch_range;
  sqlite::statement open_upload;
  sqlite::statement stage_part;
  sqlite::statement count_upload;
  sqlite::statement upload_parts;
  sqlite::statement move_part;
  sqlite::statement move_part_policies;
  sqlite::statement staged_duplicate;
  sqlite::statement drop_upload_parts;
  sqlite::statement drop_upload;
  sqlite::statement log_due_retries;
  sqlite::statement promote_due_retries;
  sqlite::statement due_scheduled_by_batch;
  sqlite::statement promote_due_scheduled;
  sqlite::statement count_promoted;
  sqlite::statement count_scheduled;
  sqlite::statement insert_attempt;
  sqlite::statement insert_whole_attempt;
  sqlite::statement start_task;
  sqlite::statement save_progress;
  sqlite::statement start_batch;
  sqlite::statement end_attempt;
  sqlite::statement task_dependents;
  sqlite::statement count_batch;
  sqlite::statement finish_batch;
  sqlite::statement insert_event;
  sqlite::statement log_cancelled;
  sqlite::statement cancel_waiting;
  sqlite::statement cancel_batch;
  sqlite::statement set_batch_key;
  sqlite::statement cancel_task;
  sqlite::statement count_cancelled_tasks;
  sqlite::statement log_replayed;
  sqlite::statement replay_tasks;
  sqlite::statement reopen_batch;
  sqlite::statement pause_tasks;
  sqlite::statement pause_batch;
  sqlite::statement pause_fleet;
  sqlite::statement resume_fleet;
  sqlite::statement oldest_finished;
  sqlite::statement prune_attempts;
  sqlite::statement prune_policies;
  sqlite::statement prune_dependencies;
  sqlite::statement prune_tasks;
  sqlite::statement prune_batch_progress;
  sqlite::statement prune_batch;
  sqlite::statement prune_events;
  sqlite::statement task_edges;
  sqlite::statement insert_dependency;
  sqlite::statement move_part_dependencies;
  sqlite::statement unknown_dependency;
  sqlite::statement batch_edges;
  sqlite::statement count_batch_edges;
  sqlite::statement block_dependents;
  sqlite::statement count_dependents;
  sqlite::statement unblock_dependents;
  sqlite::statement skip_dependents;
  sqlite::statement skipped_below;
  sqlite::statement dependencies_of;
  sqlite::statement dependents_of;
  sqlite::statement log_replayed_seq;
  sqlite::statement replay_task_seq;
  sqlite::statement reblock_replayed;
};

namespace store_detail {

/// Prepares statements one after another and keeps the first error: a catalogue of statements is
/// built in one designated initializer, then checked once.
struct statement_preparer {
  sqlite::database& db;
  caf::error error;

  sqlite::statement operator()(const std::string& sql) {
    auto st = db.prepare(sql);
    if (st)
      return std::move(*st);
    if (!error)
      error = caf::make_error(errc::database_error,
                              fmt::format("cannot prepare `{}`: {}", sql, error_text(st.error())));
    return {};
  }
};

/// The current row of a statement, as the column layouts of store_rows.hpp read it.
struct sqlite_row {
  const sqlite::statement& st;
  int64_t i64(int c) const { return st.column_int64(c); }
  int32_t i32(int c) const { return static_cast<int32_t>(st.column_int64(c)); }
  double real(int c) const { return st.column_double(c); }
  bool null(int c) const { return st.column_is_null(c); }
  std::string text(int c) const { return st.column_text(c); } ///< empty for NULL
};

/// attempts.node: NULL for fleetd's own workers, which run nearly every attempt of a local fleet.
inline void bind_node(sqlite::statement& st, int index, const std::string& node) {
  if (node.empty())
    st.bind(index, nullptr);
  else
    st.bind(index, node);
}



/// Steps a statement that yields at most one row: none once the row is ready to read (the caller
/// resets after reading), else `if_none` (or SQLite's error), with the statement reset.
inline caf::error step_to_row(sqlite::statement& st, caf::error if_none) {
  auto row = st.step();
  if (!row)
    return row.error();
  if (!*row) {
    st.reset();
    return if_none;
  }
  return caf::none;
}


} // namespace store_detail

} // namespace fleet
