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
  auto ended = [](const runnable_task& t, int32_t attempt, int64_t at) {
    attempt_ended end;
    end.seq = t.seq;
    end.batch_id = "b1";
    end.task_id = t.spec.id;
    end.attempt = attempt;
    end.at = at;
    end.duration_ms = 3;
    end.outcome = attempt_outcome::succeeded;
    end.result = "{\"attempt\":" + std::to_string(attempt) + "}";
    end.next = task_disposition::succeeded;
    return end;
  };
  std::vector<transition> group;
  for (int i = 0; i < 45; ++i) {
    const auto& t = (*next)[i];
    group.push_back(attempt_started{t.seq, "b1", t.spec.id, 1, "w" + std::to_string(i), 1000 + i, {}});
    if (i >= 40)
      continue; // started only: running when the group is written
    auto first = ended(t, 1, 2000 + i);
    if (i % 2 == 0) {
      first.outcome = attempt_outcome::failed;
      first.result.clear();
      first.error = "boom " + std::to_string(i);
      first.next = task_disposition::retry;
      first.not_before = 2000 + i;
      group.push_back(first);
      group.push_back(attempt_started{t.seq, "b1", t.spec.id, 2, "v" + std::to_string(i), 2500 + i, {}});
      if (i % 10 != 4) // else the retry runs on when the group is written
        group.push_back(ended(t, 2, 3000 + i));
    } else if (i % 7 == 1) {
      first.outcome = attempt_outcome::interrupted;
      first.result.clear();
      first.error = "lost";
      first.next = task_disposition::requeue;
      first.orphaned = true;
      group.push_back(first);
    } else {
      group.push_back(first);
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
