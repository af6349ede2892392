#pragma once

// The invariants of the promise "an acknowledged task is never lost and a finished result is never
// recorded twice", checked straight from a database file after everything ran to the end. The crash
// loop (kill -9, tests/e2e/crash_loop_test.cpp) and the power-cut loop
// (tests/actor/power_cut_test.cpp) both end with them.

#include "query_db.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <string>

namespace fleet::test {

/// Checks one invariant: `sql` counts the rows that break it.
inline void check_none(const std::string& db, const char* what, const std::string& sql) {
  auto n = query_db_int(db, sql);
  CHECK_MESSAGE(n == 0, std::string{what} << ": " << n << " rows break it");
}

/// Every invariant of a database whose work has all ended; `max_retries` is the fleet's.
inline void check_store_invariants(const std::string& db, int max_retries) {
  CHECK(integrity_check(db) == "ok");
  check_none(db, "every stored batch has all its tasks",
             "SELECT count(*) FROM batches b WHERE total != (SELECT count(*) FROM tasks t WHERE t.batch_id = b.id)");
  check_none(db, "every task ended",
             "SELECT count(*) FROM tasks WHERE state NOT IN ('succeeded', 'failed', 'cancelled')");
  check_none(db, "no attempt left open", "SELECT count(*) FROM attempts WHERE outcome IS NULL");
  check_none(db, "no result recorded twice",
             "SELECT count(*) FROM (SELECT task_seq FROM attempts WHERE outcome = 'succeeded'"
             " GROUP BY task_seq HAVING count(*) > 1)");
  check_none(db, "a task succeeded exactly when one attempt did, and then has a result",
             "SELECT count(*) FROM tasks t WHERE (t.state = 'succeeded') != (SELECT count(*) = 1 FROM attempts a"
             " WHERE a.task_seq = t.seq AND a.outcome = 'succeeded') OR (t.state = 'succeeded') != (t.result IS NOT NULL)");
  check_none(db, "attempts never exceed max_retries + 1 plus interrupted ones",
             fmt::format("SELECT count(*) FROM tasks t WHERE (SELECT count(*) FROM attempts a WHERE a.task_seq = t.seq"
                         " AND a.outcome != 'interrupted') > {}", max_retries + 1));
  check_none(db, "a task's attempt and interruption counts match its attempts rows",
             "SELECT count(*) FROM tasks t WHERE t.attempts != (SELECT count(*) FROM attempts a WHERE a.task_seq = t.seq)"
             " OR t.interruptions != (SELECT count(*) FROM attempts a WHERE a.task_seq = t.seq"
             " AND a.outcome = 'interrupted')");
  check_none(db, "batch counters equal the counts of their tasks",
             "SELECT count(*) FROM batches b WHERE"
             " succeeded != (SELECT count(*) FROM tasks WHERE batch_id = b.id AND state = 'succeeded')"
             " OR failed != (SELECT count(*) FROM tasks WHERE batch_id = b.id AND state = 'failed')"
             " OR cancelled != (SELECT count(*) FROM tasks WHERE batch_id = b.id AND state = 'cancelled')");
  check_none(db, "a batch is finished exactly when all its tasks are",
             "SELECT count(*) FROM batches WHERE (finished_at IS NOT NULL) != (succeeded + failed + cancelled = total)");
  check_none(db, "the fleet totals equal the sums over batches",
             "SELECT count(*) FROM fleet_totals f WHERE f.batches != (SELECT count(*) FROM batches)"
             " OR f.tasks != (SELECT coalesce(sum(total), 0) FROM batches)"
             " OR f.succeeded != (SELECT coalesce(sum(succeeded), 0) FROM batches)"
             " OR f.failed != (SELECT coalesce(sum(failed), 0) FROM batches)"
             " OR f.cancelled != (SELECT coalesce(sum(cancelled), 0) FROM batches)");
}

} // namespace fleet::test
