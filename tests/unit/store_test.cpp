#include "fleetd/error.hpp"
#include "fleet/store.hpp"
#include "fleet/store_sql.hpp"
#include "query_db.hpp"
#include "store_fixture.hpp"

#include <doctest/doctest.h>

#include <map>

using namespace fleet;
using namespace fleet::test;

TEST_CASE("runnable tasks come by priority, then submission order, across batches") {
  store_fixture f;
  f.insert("b1", {{"a", "echo", "{}", 1}, {"b", "echo", "{}", 5}, {"c", "echo", "{}", 1}});
  f.insert("b2", {{"d", "echo", "{}", 5}, {"e", "echo", "{}", 9}});
  auto next = f.store->next_runnable(fleet::default_queue, 10);
  REQUIRE(next);
  std::vector<std::string> order;
  for (auto& r : *next)
    order.push_back(r.spec.id);
  CHECK(order == std::vector<std::string>{"e", "b", "d", "a", "c"});
  auto two = f.store->next_runnable(fleet::default_queue, 2);
  REQUIRE(two);
  CHECK(two->size() == 2);
}

TEST_CASE("reading on from a position gives every runnable task once, in run order") {
  store_fixture f;
  f.insert("b1", {{"a", "echo", "{}", 1}, {"b", "echo", "{}", 5}, {"c", "echo", "{}", 1}, {"f", "echo", "{}", -3}});
  f.insert("b2", {{"d", "echo", "{}", 5}, {"e", "echo", "{}", 9}, {"g", "echo", "{}", 1}});
  std::vector<std::string> order;
  std::optional<run_position> at;
  for (int reads = 0; reads < 10; ++reads) {
    auto next = f.store->next_runnable(fleet::default_queue, 2, at);
    REQUIRE(next);
    for (auto& r : *next)
      order.push_back(r.spec.id);
    if (next->size() < 2)
      break;
    at = run_position{next->back().spec.priority, next->back().seq};
  }
  // Each read of two crosses into the next priority when its own runs out (5 -> 1, 1 -> -3).
  CHECK(order == std::vector<std::string>{"e", "b", "d", "a", "c", "g", "f"});
  // From a position, the tasks at or before it are not seen, pending as they are: that is why
  // the manager reads from the top again whenever a task may have become runnable there.
  auto from_d = f.store->next_runnable(fleet::default_queue, 10, run_position{5, 5}); // d is seq 5
  REQUIRE(from_d);
  std::vector<std::string> rest;
  for (auto& r : *from_d)
    rest.push_back(r.spec.id);
  CHECK(rest == std::vector<std::string>{"a", "c", "g", "f"});
}

TEST_CASE("a group's runnable tasks are read between two positions, in run order, across priorities") {
  store_fixture f;
  auto t = [](std::string id, int32_t priority, std::string group) {
    task x{std::move(id), "echo", "{}", priority};
    x.group = std::move(group);
    return x;
  };
  // seq 1..8 in this order.
  f.insert("b1", {t("a1", 9, "a"), t("b1", 9, "b"), t("a2", 9, "a"), t("a3", 5, "a"), t("b2", 5, "b"),
                  t("a4", 1, "a"), t("a5", 1, "a"), t("a6", 0, "a")});
  auto ids = [&](size_t limit, run_position from, run_position up_to) {
    auto rows = f.store->runnable_of_group(fleet::default_queue, "a", limit, from, up_to);
    REQUIRE(rows);
    std::vector<std::string> out;
    for (auto& r : *rows)
      out.push_back(r.spec.id);
    return out;
  };
  using v = std::vector<std::string>;
  // Both ends included; the other group's tasks and those past up_to are not read.
  CHECK(ids(10, {9, 1}, {1, 6}) == v{"a1", "a2", "a3", "a4"});
  CHECK(ids(10, {9, 3}, {1, 7}) == v{"a2", "a3", "a4", "a5"});
  // Within one priority, and the limit holds across the parts.
  CHECK(ids(10, {1, 6}, {1, 7}) == v{"a4", "a5"});
  CHECK(ids(2, {9, 1}, {0, 8}) == v{"a1", "a2"});
  CHECK(ids(3, {9, 2}, {0, 8}) == v{"a2", "a3", "a4"});
  // Nothing between a position and one before it.
  CHECK(ids(10, {1, 7}, {1, 6}).empty());
  CHECK(ids(10, {5, 4}, {9, 3}).empty());
  auto other = f.store->runnable_of_group(fleet::default_queue, "b", 10, {9, 1}, {0, 8});
  REQUIRE(other);
  CHECK(other->size() == 2);
}

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
  for (const auto& statement : {sql::dependencies_of, sql::batch_edges, sql::count_batch_edges}) {
    auto plan = query_plan(path, statement);
    CHECK_MESSAGE(plan.find("task_deps_by_task") != std::string::npos, plan);
  }
  auto blocked = query_plan(path, sql::count_blocked);
  CHECK(blocked.find("tasks_blocked_by_batch") != std::string::npos);
}

TEST_CASE("results page through one batch by cursor, never into the next") {
  store_fixture f;
  std::vector<task> a, b;
  for (int i = 0; i < 7; ++i)
    a.push_back({"a" + std::to_string(i), "echo", "{}", 0});
  for (int i = 0; i < 3; ++i)
    b.push_back({"b" + std::to_string(i), "echo", "{}", 0});
  f.insert("A", a);
  f.insert("B", b);
  auto db = sqlite::database::open(f.path, false);
  REQUIRE(db);
  REQUIRE_FALSE(db->exec("UPDATE tasks SET state = 'succeeded', result = '{}' WHERE task_id != 'a3'"));
  std::vector<std::string> seen;
  int64_t cursor = 0;
  int pages = 0;
  for (;;) {
    auto page = f.store->results("A", cursor, 2);
    REQUIRE(page);
    ++pages;
    for (auto& r : page->items)
      seen.push_back(r.task_id);
    cursor = page->next_cursor;
    if (page->done)
      break;
  }
  CHECK(seen == std::vector<std::string>{"a0", "a1", "a2", "a4", "a5", "a6"}); // a3 unfinished
  CHECK(pages == 4);
  auto all_b = f.store->results("B");
  REQUIRE(all_b);
  CHECK(all_b->size() == 3);
  auto none = f.store->results("C", 0, 10);
  REQUIRE_FALSE(none);
  CHECK(none.error() == errc::unknown_batch);
}

TEST_CASE("a rolled-back transaction leaves nothing behind") {
  store_fixture f;
  {
    auto tx = f.store->transaction();
    REQUIRE_FALSE(tx.begin());
    REQUIRE_FALSE(f.store->insert_batch("b1", {{"a", "echo", "{}", 0}}, 1));
  } // no commit
  auto st = f.store->status("b1");
  REQUIRE_FALSE(st);
  CHECK(st.error() == errc::unknown_batch);
}

TEST_CASE("attempt transitions update task, batch counters and events together") {
  store_fixture f;
  f.insert("b1", {{"a", "echo", "{}", 0}, {"b", "echo", "{}", 0}});
  auto next = f.store->next_runnable(fleet::default_queue, 10);
  REQUIRE(next);
  REQUIRE(next->size() == 2);
  auto tx = f.store->transaction();
  REQUIRE_FALSE(tx.begin());
  auto a = (*next)[0];
  REQUIRE_FALSE(f.store->record(attempt_started{a.seq, "b1", "a", 1, "w1", 2000, {}}));
  attempt_ended end;
  end.seq = a.seq;
  end.batch_id = "b1";
  end.task_id = "a";
  end.attempt = 1;
  end.at = 2500;
  end.outcome = attempt_outcome::succeeded;
  end.result = "{}";
  end.next = task_disposition::succeeded;
  end.duration_ms = 500;
  REQUIRE_FALSE(f.store->record(end));
  REQUIRE_FALSE(tx.commit());
  auto st = f.store->status("b1");
  REQUIRE(st);
  CHECK(st->status == batch_state::processing);
  CHECK(st->completed == 1);
  CHECK(st->started_at == 2000);
  CHECK(st->progress == doctest::Approx(0.5));
  auto totals = f.store->result_totals();
  REQUIRE(totals);
  CHECK(totals->total_results == 1);
  CHECK(totals->average_duration_ms == doctest::Approx(500.0));
}

TEST_CASE("recent failures come latest failure first, whatever the submission order") {
  store_fixture f;
  f.insert("old", {{"slow", "exec", "{}", 0}, {"ok", "echo", "{}", 0}});
  f.insert("new", {{"quick", "fail", "{}", 0}, {"later", "fail", "{}", 0}});
  auto next = f.store->next_runnable(fleet::default_queue, 10);
  REQUIRE(next);
  REQUIRE(next->size() == 4);
  // Failures at 300 (new/quick), 900 (old/slow), 600 (new/later); old/ok succeeds last.
  std::map<std::string, int64_t> fails_at{{"quick", 300}, {"slow", 900}, {"later", 600}};
  auto tx = f.store->transaction();
  REQUIRE_FALSE(tx.begin());
  for (const auto& t : *next) {
    attempt_ended end;
    end.seq = t.seq;
    end.batch_id = t.batch_id;
    end.task_id = t.spec.id;
    end.attempt = 1;
    auto failing = fails_at.count(t.spec.id) > 0;
    end.at = failing ? fails_at[t.spec.id] : 1000;
    end.outcome = failing ? attempt_outcome::failed : attempt_outcome::succeeded;
    end.error = failing ? "boom " + t.spec.id : "";
    end.result = failing ? "" : "{}";
    end.next = failing ? task_disposition::failed : task_disposition::succeeded;
    REQUIRE_FALSE(f.store->record(attempt_started{t.seq, t.batch_id, t.spec.id, 1, "w-" + t.spec.id, 100, {}}));
    REQUIRE_FALSE(f.store->record(end));
  }
  REQUIRE_FALSE(tx.commit());
  auto failed = f.store->recent_failures(10);
  REQUIRE(failed);
  REQUIRE(failed->size() == 3);
  CHECK((*failed)[0].task_id == "slow");
  CHECK((*failed)[0].failed_at == 900);
  CHECK((*failed)[1].task_id == "later");
  CHECK((*failed)[2].task_id == "quick");
  auto two = f.store->recent_failures(2);
  REQUIRE(two);
  REQUIRE(two->size() == 2);
  CHECK((*two)[1].task_id == "later");
}

TEST_CASE("a group commit writes a started-and-ended attempt once and counts each batch once") {
  store_fixture f;
  f.insert("b1", {{"a", "echo", "{}", 0}, {"b", "fail", "{}", 0}, {"c", "sleep", "{}", 0}});
  auto next = f.store->next_runnable(fleet::default_queue, 10);
  REQUIRE(next);
  REQUIRE(next->size() == 3);
  auto ended = [](const runnable_task& t, attempt_outcome outcome, task_disposition disposition) {
    attempt_ended end;
    end.seq = t.seq;
    end.batch_id = t.batch_id;
    end.task_id = t.spec.id;
    end.attempt = 1;
    end.at = 3000;
    end.outcome = outcome;
    end.result = outcome == attempt_outcome::succeeded ? "{\"ok\":1}" : "";
    end.error = outcome == attempt_outcome::succeeded ? "" : "boom";
    end.next = disposition;
    end.not_before = disposition == task_disposition::retry ? 9000 : 0;
    end.duration_ms = 1000;
    return end;
  };
  const auto& a = (*next)[0];
  const auto& b = (*next)[1];
  const auto& c = (*next)[2];
  std::vector<transition> group{
    attempt_started{a.seq, "b1", "a", 1, "w1", 2000, "node-a"},
    attempt_started{b.seq, "b1", "b", 1, "w2", 2000, {}},
    attempt_started{c.seq, "b1", "c", 1, "w3", 2000, {}},
    ended(a, attempt_outcome::succeeded, task_disposition::succeeded),
    ended(b, attempt_outcome::failed, task_disposition::retry),
  };
  auto tx = f.store->transaction();
  REQUIRE_FALSE(tx.begin());
  auto milestones = f.store->record(group);
  REQUIRE(milestones);
  REQUIRE_FALSE(tx.commit());
  auto db = sqlite::database::open(f.path, false);
  REQUIRE(db);
  auto q = [&](const std::string& sql) { return *db->query_int(sql); };
  CHECK(q("SELECT count(*) FROM attempts") == 3);
  CHECK(q("SELECT count(*) FROM attempts WHERE started_at = 2000 AND finished_at = 3000") == 2);
  CHECK(q("SELECT count(*) FROM attempts WHERE worker_id = 'w3' AND finished_at IS NULL") == 1);
  // Where each attempt ran: a fleet-node's name, NULL for fleetd's own workers.
  CHECK(q("SELECT count(*) FROM attempts WHERE worker_id = 'w1' AND node = 'node-a'") == 1);
  CHECK(q("SELECT count(*) FROM attempts WHERE node IS NULL") == 2);
  CHECK(q("SELECT attempts FROM tasks WHERE task_id = 'a'") == 1);
  CHECK(q("SELECT started_at FROM tasks WHERE task_id = 'a'") == 2000);
  CHECK(q("SELECT count(*) FROM tasks WHERE task_id = 'b' AND state = 'retry_wait' AND not_before = 9000") == 1);
  CHECK(q("SELECT count(*) FROM tasks WHERE task_id = 'c' AND state = 'running'") == 1);
  CHECK(q("SELECT succeeded FROM batches") == 1);
  CHECK(q("SELECT retries FROM batches") == 1);
  CHECK(q("SELECT duration_ms FROM batches") == 1000);
  CHECK(q("SELECT started_at FROM batches") == 2000);
  CHECK(q("SELECT count(*) FROM events WHERE kind = 'task_retry_scheduled'") == 1);
  // The fleet-wide sums follow the batch counters.
  CHECK(q("SELECT batches FROM fleet_totals") == 1);
  CHECK(q("SELECT tasks FROM fleet_totals") == 3);
  CHECK(q("SELECT succeeded FROM fleet_totals") == 1);
  CHECK(q("SELECT retries FROM fleet_totals") == 1);
  CHECK(q("SELECT duration_ms FROM fleet_totals") == 1000);
  // The batch started in this group: the call that wrote it says so.
  REQUIRE(milestones->size() == 1);
  CHECK((*milestones)[0].batch_id == "b1");
  CHECK_FALSE((*milestones)[0].finished);
}

TEST_CASE("settings changed at runtime round-trip through the database, field by field") {
  store_fixture f;
  auto none = f.store->load_config_overrides();
  REQUIRE(none);
  CHECK(set_fields(*none).empty());
  config_update first;
  first.max_concurrent_workers = 17;
  first.backoff_factor = 1.5;
  REQUIRE_FALSE(f.store->save_config_overrides(first, 1));
  config_update second;
  second.retry_failed_tasks = false;
  second.max_concurrent_workers = 3;
  REQUIRE_FALSE(f.store->save_config_overrides(second, 2));
  auto back = f.store->load_config_overrides();
  REQUIRE(back);
  CHECK(back->max_concurrent_workers == 3);
  CHECK(back->backoff_factor == 1.5);
  CHECK(back->retry_failed_tasks == false);
  CHECK_FALSE(back->worker_timeout_ms);
  CHECK_FALSE(back->max_retries);
}

TEST_CASE("a stored setting the program does not know is refused with its name") {
  store_fixture f;
  auto db = sqlite::database::open(f.path);
  REQUIRE(db);
  REQUIRE_FALSE(db->exec("INSERT INTO config_overrides VALUES ('warp_speed', 9, 1)"));
  auto back = f.store->load_config_overrides();
  REQUIRE_FALSE(back);
  CHECK(error_text(back.error()).find("warp_speed") != std::string::npos);
}

TEST_CASE("uploads never sealed expire, sealed batches and fresh uploads stay") {
  store_fixture f;
  auto tx = f.store->transaction();
  REQUIRE_FALSE(tx.begin());
  REQUIRE_FALSE(f.store->open_upload("old", 1000));
  REQUIRE(f.store->stage_chunk("old", encode_upload_chunk({{"a", "echo", "{}", 0}})));
  REQUIRE_FALSE(f.store->open_upload("new", 9000));
  REQUIRE(f.store->stage_chunk("new", encode_upload_chunk({{"a", "echo", "{}", 0}})));
  auto dropped = f.store->expire_uploads(5000);
  REQUIRE(dropped);
  REQUIRE_FALSE(tx.commit());
  CHECK_FALSE(f.store->upload_size("old"));
  auto kept = f.store->upload_size("new");
  REQUIRE(kept);
  CHECK(*kept == 1);
}

TEST_CASE("a group of many attempt ends writes every row as the ends written one by one do") {
  // Two stores get the same changes: one as a single group (starts and ends of one attempt merged
  // into one row, batch counters once), the other one change per transaction.
  store_fixture grouped, single;
  std::vector<task> tasks;
  for (int i = 0; i < 75; ++i)
    tasks.push_back({"t" + std::to_string(i), "echo", "{\"i\":" + std::to_string(i) + "}", i % 3});
  grouped.insert("b1", tasks);
  single.insert("b1", tasks);
  auto next = grouped.store->next_runnable(fleet::default_queue, 100);
  REQUIRE(next);
  REQUIRE(next->size() == 75);
  std::vector<transition> earlier, group;
  int i = 0;
  for (const auto& t : *next) {
    attempt_started start{t.seq, "b1", t.spec.id, 1, "w" + std::to_string(i), 1000 + i,
                          i % 4 == 0 ? "node-" + std::to_string(i % 3) : std::string{}};
    attempt_ended end;
    end.seq = t.seq;
    end.batch_id = "b1";
    end.task_id = t.spec.id;
    end.attempt = 1;
    end.at = 5000 + i;
    end.duration_ms = 4000;
    switch (i % 5) {
      case 0: case 1:
        end.outcome = attempt_outcome::succeeded;
        end.result = "{\"r\":" + std::to_string(i) + "}";
        end.next = task_disposition::succeeded;
        break;
      case 2:
        end.outcome = attempt_outcome::failed;
        end.error = "boom " + std::to_string(i);
        end.next = task_disposition::retry;
        end.not_before = 9000 + i;
        break;
      case 3:
        end.outcome = attempt_outcome::timed_out;
        end.error = "too slow";
        end.next = task_disposition::failed;
        break;
      default:
        end.outcome = attempt_outcome::interrupted;
        end.error = "node lost";
        end.next = task_disposition::requeue;
    }
    // A third of the attempts started in an earlier group: their end updates the row.
    (i % 3 == 0 ? earlier : group).push_back(start);
    group.push_back(end);
    ++i;
  }
  auto write = [](store_fixture& s, const std::vector<transition>& changes) {
    auto tx = s.store->transaction();
    REQUIRE_FALSE(tx.begin());
    REQUIRE(s.store->record(changes));
    REQUIRE_FALSE(tx.commit());
  };
  write(grouped, earlier);
  write(grouped, group);
  for (const auto& change : earlier)
    write(single, {change});
  for (const auto& change : group)
    write(single, {change});
  auto dump = [](const std::string& path, const std::string& sql) {
    auto db = sqlite::database::open(path, false);
    REQUIRE(db);
    auto st = db->prepare(sql);
    REQUIRE(st);
    REQUIRE(*st->step());
    return st->column_text(0);
  };
  const std::string tasks_sql = "SELECT group_concat(quote(seq) || quote(state) || quote(result) || quote(error)"
                                " || quote(not_before) || quote(finished_at) || quote(duration_ms)"
                                " || quote(interruptions) || quote(attempts) || quote(started_at), '|')"
                                " FROM (SELECT * FROM tasks ORDER BY seq)";
  const std::string attempts_sql = "SELECT group_concat(quote(task_seq) || quote(attempt) || quote(worker_id)"
                                   " || quote(started_at) || quote(finished_at) || quote(outcome) || quote(error)"
                                   " || quote(node), '|') FROM (SELECT * FROM attempts ORDER BY task_seq, attempt)";
  const std::string counts_sql = "SELECT quote(succeeded) || quote(failed) || quote(retries) || quote(duration_ms)"
                                 " || quote(started_at) || (SELECT count(*) FROM events WHERE kind LIKE 'task_%'"
                                 " OR kind = 'attempt_interrupted') FROM batches";
  auto grouped_tasks = dump(grouped.path, tasks_sql);
  CHECK(grouped_tasks == dump(single.path, tasks_sql));
  CHECK(dump(grouped.path, attempts_sql) == dump(single.path, attempts_sql));
  CHECK(dump(grouped.path, counts_sql) == dump(single.path, counts_sql));
  // And the rows are what the ends said, not merely alike.
  CHECK(query_db_int(grouped.path, "SELECT count(*) FROM tasks WHERE state = 'succeeded' AND result LIKE '{\"r\":%'") == 30);
  CHECK(query_db_int(grouped.path, "SELECT count(*) FROM tasks WHERE state = 'retry_wait' AND not_before >= 9000") == 15);
  CHECK(query_db_int(grouped.path, "SELECT count(*) FROM tasks WHERE state = 'pending' AND interruptions = 1") == 15);
  CHECK(query_db_int(grouped.path, "SELECT count(*) FROM attempts WHERE finished_at IS NOT NULL") == 75);
  CHECK(query_db_int(grouped.path, "SELECT count(*) FROM attempts WHERE node IS NOT NULL") == 19);
}

TEST_CASE("a results page stops at its byte budget, holds at least one result, and the next goes on") {
  store_fixture f;
  std::vector<task> tasks;
  for (int i = 0; i < 5; ++i)
    tasks.push_back({"t" + std::to_string(i), "echo", "{}", 0});
  f.insert("b1", tasks);
  auto next = f.store->next_runnable(fleet::default_queue, 10);
  REQUIRE(next);
  std::vector<transition> changes;
  for (const auto& t : *next) {
    changes.emplace_back(attempt_started{t.seq, "b1", t.spec.id, 1, "w", 2000, {}});
    attempt_ended end;
    end.seq = t.seq;
    end.batch_id = "b1";
    end.task_id = t.spec.id;
    end.attempt = 1;
    end.at = 2100;
    end.outcome = attempt_outcome::succeeded;
    end.result = "\"" + std::string(1000, 'r') + "\"";
    end.next = task_disposition::succeeded;
    changes.emplace_back(std::move(end));
  }
  auto tx = f.store->transaction();
  REQUIRE_FALSE(tx.begin());
  REQUIRE(f.store->record(changes));
  REQUIRE_FALSE(tx.commit());
  std::vector<std::string> seen;
  int64_t cursor = 0;
  for (;;) {
    auto page = f.store->results("b1", cursor, 100, 2500);
    REQUIRE(page);
    CHECK(page->items.size() <= 2);
    for (const auto& r : page->items)
      seen.push_back(r.task_id);
    cursor = page->next_cursor;
    if (page->done)
      break;
  }
  CHECK(seen == std::vector<std::string>{"t0", "t1", "t2", "t3", "t4"});
  auto tiny = f.store->results("b1", 0, 100, 10);
  REQUIRE(tiny);
  CHECK(tiny->items.size() == 1);
  auto whole = f.store->results("b1", 2500);
  REQUIRE_FALSE(whole);
  CHECK(error_text(whole.error()).find("page through them") != std::string::npos);
  CHECK(f.store->results("b1", 100'000));
}

TEST_CASE("pruning finds the oldest finished batch through its index and resumes a batch where a crash left it") {
  store_fixture f;
  CHECK(query_plan(f.path, sql::oldest_finished).find("USING INDEX batches_finished") != std::string::npos);
  CHECK(query_plan(f.path, sql::oldest_finished).find("TEMP B-TREE") == std::string::npos);
  std::vector<task> tasks;
  for (int i = 0; i < 10; ++i)
    tasks.push_back({"t" + std::to_string(i), "echo", "{}", 0});
  f.insert("A", tasks);
  f.insert("B", {{"b", "echo", "{}", 0}});
  {
    auto db = sqlite::database::open(f.path, false);
    REQUIRE(db);
    REQUIRE_FALSE(db->exec("UPDATE tasks SET state = 'succeeded', finished_at = 2000;"
                           "INSERT INTO attempts (task_seq, attempt, worker_id, started_at, finished_at, outcome)"
                           " SELECT seq, 1, 'w', 1500, 2000, 'succeeded' FROM tasks;"
                           "UPDATE batches SET succeeded = total, finished_at = 2000 WHERE id = 'A';"
                           "UPDATE batches SET succeeded = total, finished_at = 9000 WHERE id = 'B'"));
  }
  fleet_store::retention_policy policy{1000, 0};
  auto step = [&](fleet_store& store) {
    auto tx = store.transaction();
    REQUIRE_FALSE(tx.begin());
    auto done = store.prune_step(5000, policy, 4);
    REQUIRE(done);
    REQUIRE_FALSE(tx.commit());
    return *done;
  };
  auto first = step(*f.store);
  CHECK(first.tasks == 4);
  CHECK(first.batches == 0);
  CHECK(first.more);
  // The process dies here: a new store on the file goes on where the last commit left off.
  f.store.reset();
  auto reopened = fleet_store::open({f.path, "normal"});
  REQUIRE(reopened);
  CHECK(query_db_int(f.path, "SELECT first_seq FROM batches WHERE id = 'A'") == 5);
  CHECK(step(**reopened).tasks == 4);
  auto last = step(**reopened);
  CHECK(last.tasks == 2);
  CHECK(last.batches == 1);
  auto none = step(**reopened); // B finished at 9000, younger than 5000 - 1000
  CHECK(none.tasks == 0);
  CHECK_FALSE(none.more);
  CHECK(query_db_int(f.path, "SELECT count(*) FROM tasks WHERE batch_id = 'A'") == 0);
  CHECK(query_db_int(f.path, "SELECT count(*) FROM attempts") == 1);
  CHECK(query_db_int(f.path, "SELECT count(*) FROM tasks WHERE batch_id = 'B'") == 1);
  CHECK(query_db_int(f.path, "SELECT batches = 1 AND tasks = 1 AND succeeded = 1 FROM fleet_totals") == 1);
  CHECK(query_db_int(f.path, "SELECT count(*) FROM events WHERE kind = 'batch_pruned' AND batch_id = 'A'"
                             " AND json_extract(detail, '$.tasks') = 10") == 1);
}
