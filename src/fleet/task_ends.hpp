#pragma once

// The SQLite writer's hot path: the `tasks` rows of a group commit's attempt ends, updated up to
// `max_rows` per statement instead of one. Each execution of an UPDATE of `tasks` opens and closes
// a cursor on the table and on each of its indexes whether it touches them or not; sharing one
// execution among many ends took 27.5 k instructions per end to about 21 k
// (docs/BENCHMARKS.md, 2026-12-06 13:50).

#include "fleet/sqlite.hpp"
#include "fleet/transitions.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>

struct sqlite3_context;

namespace fleet {

class task_end_writer {
public:
  /// An attempt's end, with its start if that is in the same group (else null).
  struct row {
    const attempt_ended* end;
    const attempt_started* start;
  };

  /// Rows per statement: more would save little and prepare more statements.
  static constexpr size_t max_rows = 32;

  /// A writer on `db`, which must outlive it. Registers fleet_task_end() on `db`: the UPDATE reads
  /// each row's new values through it, from the rows being written. It is DIRECTONLY, so no
  /// trigger or view in a database file can call it.
  static caf::expected<std::unique_ptr<task_end_writer>> make(sqlite::database& db);

  task_end_writer(const task_end_writer&) = delete;
  task_end_writer& operator=(const task_end_writer&) = delete;
  ~task_end_writer();

  /// Updates the tasks of `rows` (1..max_rows, each of a different task) for their ends: the
  /// state after the end, result or error, not_before, finish time and duration if the task is
  /// done, the attempt and interruption counts, the start time of its first attempt.
  caf::error write(std::span<const row> rows);

  /// The value of `field` (0..9, in the order of the UPDATE's SET) for task `seq` among the rows
  /// being written: fleet_task_end(seq, field) in SQL.
  void value_of(int64_t seq, int field, sqlite3_context* out);

private:
  explicit task_end_writer(sqlite::database& db) : db_(db) {}
  caf::expected<sqlite::statement*> update_for(size_t n);
  const row* find(int64_t seq);

  sqlite::database& db_;
  /// By number of rows, each prepared when first needed.
  std::array<std::optional<sqlite::statement>, max_rows + 1> updates_;
  /// The rows of the running UPDATE; `hint_` is where the last lookup found its row (SQLite asks
  /// for one row's fields one after the other).
  std::span<const row> rows_;
  size_t hint_ = 0;
};

} // namespace fleet
