// The order a group commit writes in, on both backends: the SQLite store writes the tasks of a
// group's ends several per statement (src/fleet/task_ends.hpp), and must write each task's rows
// and the events as the group orders them, as a store that writes change by change does.

#include "fleet/store.hpp"
#include "store_backends.hpp"
#include "store_conformance.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace fleet;
using namespace fleet::test;

TEST_CASE_TEMPLATE("a task's two attempts in one group, and other tasks' starts between ends, are written in order", B,
                   STORE_BACKENDS) {
  // An end or a start of a task whose earlier end is held (not written yet) must not overtake it,
  // and the events must keep the group's order.
  B grouped, single;
  std::vector<task> tasks;
  for (int i = 0; i < 45; ++i)
    tasks.push_back({"t" + std::to_string(i), "echo", "{}", 0});
  insert(grouped, "b1", tasks);
  insert(single, "b1", tasks);
  auto next = grouped.store->next_runnable(fleet::default_queue, 100);
  REQUIRE(next);
  REQUIRE(next->size() == 45);
  // store_conformance.hpp's started() and ended(); a success's result names its attempt.
  auto succeeded = [](const runnable_task& t, int32_t attempt, int64_t at) {
    auto end = ended(t, attempt, at, task_disposition::succeeded);
    end.result = "{\"attempt\":" + std::to_string(attempt) + "}";
    return end;
  };
  std::vector<transition> group;
  for (int i = 0; i < 45; ++i) {
    const auto& t = (*next)[i];
    group.push_back(started(t, 1, 1000 + i));
    if (i >= 40)
      continue; // started only: running when the group is written
    if (i % 2 == 0) {
      group.push_back(ended(t, 1, 2000 + i, task_disposition::retry));
      group.push_back(started(t, 2, 2500 + i));
      if (i % 10 != 4) // else the retry runs on when the group is written
        group.push_back(succeeded(t, 2, 3000 + i));
    } else if (i % 7 == 1) {
      auto lost = ended(t, 1, 2000 + i, task_disposition::requeue);
      lost.outcome = attempt_outcome::interrupted;
      lost.error = "lost";
      lost.orphaned = true;
      group.push_back(lost);
    } else {
      group.push_back(succeeded(t, 1, 2000 + i));
    }
  }
  record_group(*grouped.store, group);
  for (const auto& change : group)
    record_group(*single.store, {change});
  const std::string tasks_sql = "SELECT seq, state, result, error, not_before, finished_at, duration_ms, interruptions,"
                                " orphaned_attempts, attempts, started_at FROM tasks ORDER BY seq";
  const std::string attempts_sql = "SELECT task_seq, attempt, worker_id, started_at, finished_at, outcome, error"
                                   " FROM attempts ORDER BY task_seq, attempt";
  const std::string events_sql = "SELECT kind, task_id, detail FROM events WHERE kind <> 'batch_submitted' ORDER BY id";
  CHECK(grouped.rows(tasks_sql) == single.rows(tasks_sql));
  CHECK(grouped.rows(attempts_sql) == single.rows(attempts_sql));
  auto events = grouped.rows(events_sql);
  CHECK(events.size() == 20 + 3);
  CHECK(events == single.rows(events_sql));
  CHECK(grouped.q("SELECT count(*) FROM tasks WHERE state = 'succeeded' AND attempts = 2"
                  " AND result = '{\"attempt\":2}' AND error IS NULL") == 16);
  CHECK(grouped.q("SELECT count(*) FROM tasks WHERE state = 'pending' AND orphaned_attempts = 1"
                  " AND interruptions = 1") == 3);
  CHECK(grouped.q("SELECT count(*) FROM tasks WHERE state = 'running' AND attempts = 1") == 5);
  CHECK(grouped.q("SELECT count(*) FROM tasks WHERE state = 'running' AND attempts = 2 AND error LIKE 'boom %'") == 4);
  CHECK(grouped.q("SELECT count(*) FROM tasks WHERE state = 'succeeded' AND attempts = 1") == 17);
}
