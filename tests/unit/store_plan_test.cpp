// SQLite's plans for the statements the store prepares (src/fleet/store_sql.hpp): each hot query
// goes through its index. PostgreSQL plans for itself; the behaviour both share is checked by
// store_test.cpp on both backends.

#include "fleet/store_sql.hpp"
#include "store_fixture.hpp"

#include <doctest/doctest.h>

using namespace fleet;
using namespace fleet::test;

TEST_CASE("hot queries use their indexes, not a table scan") {
  // The statements the store prepares (src/fleet/store_sql.hpp), not copies of them.
  store_fixture f;
  auto path = f.dir.file("fleet.db");
  auto runnable = query_plan(path, sql::next_runnable);
  CHECK(runnable.find("USING INDEX tasks_runnable") != std::string::npos);
  CHECK(runnable.find("TEMP B-TREE") == std::string::npos);
  // Reading on from a position seeks to it, rather than stepping over the tasks before it.
  auto same = query_plan(path, sql::runnable_same_priority);
  CHECK(same.find("USING INDEX tasks_runnable (queue=? AND priority=? AND seq>?)") != std::string::npos);
  CHECK(same.find("TEMP B-TREE") == std::string::npos);
  auto lower = query_plan(path, sql::runnable_lower_priority);
  CHECK(lower.find("USING INDEX tasks_runnable (queue=? AND priority<?)") != std::string::npos);
  CHECK(lower.find("TEMP B-TREE") == std::string::npos);
  // A group's next tasks: a range of the queue's runnable index, no other index to keep up.
  auto group_at = query_plan(path, sql::group_runnable_at);
  CHECK_MESSAGE(group_at.find("USING INDEX tasks_runnable (queue=? AND priority=? AND seq>? AND seq<?)")
                  != std::string::npos, group_at);
  CHECK(group_at.find("TEMP B-TREE") == std::string::npos);
  auto group_between = query_plan(path, sql::group_runnable_between);
  CHECK_MESSAGE(group_between.find("USING INDEX tasks_runnable (queue=? AND priority>? AND priority<?)")
                  != std::string::npos, group_between);
  CHECK(group_between.find("TEMP B-TREE") == std::string::npos);
  auto due = query_plan(path, sql::next_due);
  CHECK(due.find("tasks_retry_due") != std::string::npos);
  CHECK(due.find("tasks_scheduled_due") != std::string::npos);
  // Delayed tasks: the slice that becomes due is read in time order without a sort, and a batch's
  // scheduled tasks are found without reading its others.
  for (const auto& statement : {sql::due_scheduled_by_batch, sql::promote_due_scheduled}) {
    auto plan = query_plan(path, statement);
    CHECK_MESSAGE(plan.find("USING INDEX tasks_scheduled_due") != std::string::npos, plan);
    CHECK_MESSAGE(plan.find("TEMP B-TREE FOR ORDER BY") == std::string::npos, plan);
  }
  for (const auto& statement : {sql::count_scheduled, sql::batch_next_scheduled}) {
    auto plan = query_plan(path, statement);
    CHECK_MESSAGE(plan.find("tasks_scheduled_by_batch") != std::string::npos, plan);
  }
  auto promote = query_plan(path, sql::promote_due_retries);
  CHECK(promote.find("tasks_retry_due") != std::string::npos);
  auto of_batch = query_plan(path, sql::cancel_waiting);
  CHECK(of_batch.find("SCAN tasks") == std::string::npos);
  auto failures = query_plan(path, sql::recent_failures);
  CHECK(failures.find("USING INDEX tasks_failed_by_time") != std::string::npos);
  CHECK(failures.find("TEMP B-TREE") == std::string::npos);
  auto letters = query_plan(path, sql::dead_letters);
  CHECK(letters.find("USING INDEX tasks_failed") != std::string::npos);
  CHECK(letters.find("TEMP B-TREE") == std::string::npos);
  auto page = query_plan(path, sql::batch_results);
  CHECK(page.find("USING INTEGER PRIMARY KEY") != std::string::npos);
  CHECK(page.find("TEMP B-TREE") == std::string::npos);
  auto unfinished = query_plan(path, sql::unfinished_batches);
  CHECK(unfinished.find("batches_unfinished") != std::string::npos);
  auto key = query_plan(path, sql::batch_for_key);
  CHECK(key.find("batches_by_client_key") != std::string::npos);
  // Dependencies: the edges of one task either way, a batch's by seq range, its blocked count.
  for (const auto& statement : {sql::unblock_dependents, sql::dependents_of, sql::skip_dependents}) {
    auto plan = query_plan(path, statement);
    CHECK_MESSAGE(plan.find("SCAN tasks") == std::string::npos, plan);
    CHECK_MESSAGE(plan.find("SCAN task_deps") == std::string::npos, plan);
  }
  for (const auto& statement : {sql::dependencies_of, sql::batch_edges, sql::count_batch_edges, sql::dependency_results}) {
    auto plan = query_plan(path, statement);
    CHECK_MESSAGE(plan.find("task_deps_by_task") != std::string::npos, plan);
  }
  auto blocked = query_plan(path, sql::count_blocked);
  CHECK(blocked.find("tasks_blocked_by_batch") != std::string::npos);
}

TEST_CASE("pruning finds the oldest finished batch through its index, without a sort") {
  store_fixture f;
  CHECK(query_plan(f.path, sql::oldest_finished).find("USING INDEX batches_finished") != std::string::npos);
  CHECK(query_plan(f.path, sql::oldest_finished).find("TEMP B-TREE") == std::string::npos);
}
