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

/// A few of the tasks that break a task-level invariant, each with its attempts rows, for a look at
/// a failure that a long or loaded run shows once: `where` selects tasks `t`.
inline std::string offending_tasks(const std::string& db, const std::string& where) {
  std::string out;
  for (const auto& row : query_db_texts(
         db, "SELECT format('seq %d batch %s task %s type %s state %s attempts %d interruptions %d result %s: ', t.seq,"
             " t.batch_id, t.task_id, t.type, t.state, t.attempts, t.interruptions, t.result IS NOT NULL)"
             " || ifnull((SELECT group_concat(format('[%d %s %s started %d finished %s %s]', a.attempt, a.worker_id,"
             " ifnull(a.node, 'local'), a.started_at, ifnull(a.finished_at, '-'), ifnull(a.outcome, 'open')), ' ')"
             " FROM attempts a WHERE a.task_seq = t.seq), 'no attempts rows')"
             " FROM tasks t WHERE " + where + " LIMIT 5"))
    out += "\n  " + row;
  return out;
}

/// Checks one invariant: `sql` counts the rows that break it; `tasks_where`, if given, selects the
/// offending tasks `t` to print.
inline void check_none(const std::string& db, const char* what, const std::string& sql,
                       const std::string& tasks_where = {}) {
  auto n = query_db_int(db, sql);
  CHECK_MESSAGE(n == 0, std::string{what} << ": " << n << " rows break it"
                                          << (n != 0 && !tasks_where.empty() ? offending_tasks(db, tasks_where) : ""));
}

/// Every invariant of a database whose work has all ended; `max_retries` is the fleet's.
inline void check_store_invariants(const std::string& db, int max_retries) {
  CHECK(integrity_check(db) == "ok");
  check_none(db, "every stored batch has all its tasks",
             "SELECT count(*) FROM batches b WHERE total != (SELECT count(*) FROM tasks t WHERE t.batch_id = b.id)");
  check_none(db, "every task ended",
             "SELECT count(*) FROM tasks WHERE state NOT IN ('succeeded', 'failed', 'cancelled')");
  check_none(db, "no attempt left open", "SELECT count(*) FROM attempts WHERE outcome IS NULL");
  check_none(db, "a task that runs after others had an attempt only once they all succeeded",
             "SELECT count(*) FROM task_deps x JOIN tasks t ON t.seq = x.task_seq JOIN tasks d ON d.seq = x.after_seq"
             " WHERE t.attempts > 0 AND d.state != 'succeeded'");
  check_none(db, "a task skipped for a dependency that failed had no attempt",
             "SELECT count(*) FROM tasks WHERE state = 'failed' AND waiting_on > 0 AND attempts > 0");
  check_none(db, "no result recorded twice",
             "SELECT count(*) FROM (SELECT task_seq FROM attempts WHERE outcome = 'succeeded'"
             " GROUP BY task_seq HAVING count(*) > 1)");
  const std::string succeeded_once = "(t.state = 'succeeded') != (SELECT count(*) = 1 FROM attempts a"
                                     " WHERE a.task_seq = t.seq AND a.outcome = 'succeeded')"
                                     " OR (t.state = 'succeeded') != (t.result IS NOT NULL)";
  check_none(db, "a task succeeded exactly when one attempt did, and then has a result",
             "SELECT count(*) FROM tasks t WHERE " + succeeded_once, succeeded_once);
  check_none(db, "attempts never exceed max_retries + 1 plus interrupted ones",
             fmt::format("SELECT count(*) FROM tasks t WHERE (SELECT count(*) FROM attempts a WHERE a.task_seq = t.seq"
                         " AND a.outcome != 'interrupted') > {}", max_retries + 1));
  const std::string counts_match = "t.attempts != (SELECT count(*) FROM attempts a WHERE a.task_seq = t.seq)"
                                   " OR t.interruptions != (SELECT count(*) FROM attempts a WHERE a.task_seq = t.seq"
                                   " AND a.outcome = 'interrupted')";
  check_none(db, "a task's attempt and interruption counts match its attempts rows",
             "SELECT count(*) FROM tasks t WHERE " + counts_match, counts_match);
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
