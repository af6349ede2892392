// The store's behaviour through fleet_store, on both backends (issue 24's conformance: each case
// runs on SQLite and on PostgreSQL). SQLite's query plans are checked in store_plan_test.cpp.

#include "fleetd/error.hpp"
#include "fleet/store.hpp"
#include "fleet/upload_rows.hpp"
#include "store_backends.hpp"
#include "store_conformance.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <map>

using namespace fleet;
using namespace fleet::test;

TEST_CASE_TEMPLATE("runnable tasks come by priority, then submission order, across batches", B, STORE_BACKENDS) {
  B f;
  insert(f, "b1", {{"a", "echo", "{}", 1}, {"b", "echo", "{}", 5}, {"c", "echo", "{}", 1}});
  insert(f, "b2", {{"d", "echo", "{}", 5}, {"e", "echo", "{}", 9}});
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

TEST_CASE_TEMPLATE("reading on from a position gives every runnable task once, in run order", B, STORE_BACKENDS) {
  B f;
  insert(f, "b1", {{"a", "echo", "{}", 1}, {"b", "echo", "{}", 5}, {"c", "echo", "{}", 1}, {"f", "echo", "{}", -3}});
  insert(f, "b2", {{"d", "echo", "{}", 5}, {"e", "echo", "{}", 9}, {"g", "echo", "{}", 1}});
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

TEST_CASE_TEMPLATE("a group's runnable tasks are read between two positions, in run order, across priorities", B, STORE_BACKENDS) {
  B f;
  auto t = [](std::string id, int32_t priority, std::string group) {
    task x{std::move(id), "echo", "{}", priority};
    x.group = std::move(group);
    return x;
  };
  // seq 1..8 in this order.
  insert(f, "b1", {t("a1", 9, "a"), t("b1", 9, "b"), t("a2", 9, "a"), t("a3", 5, "a"), t("b2", 5, "b"),
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

TEST_CASE_TEMPLATE("results page through one batch by cursor, never into the next", B, STORE_BACKENDS) {
  B f;
  std::vector<task> a, b;
  for (int i = 0; i < 7; ++i)
    a.push_back({"a" + std::to_string(i), "echo", "{}", 0});
  for (int i = 0; i < 3; ++i)
    b.push_back({"b" + std::to_string(i), "echo", "{}", 0});
  insert(f, "A", a);
  insert(f, "B", b);
  f.exec("UPDATE tasks SET state = 'succeeded', result = '{}' WHERE task_id != 'a3'");
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

TEST_CASE_TEMPLATE("a rolled-back transaction leaves nothing behind", B, STORE_BACKENDS) {
  B f;
  {
    auto tx = f.store->transaction();
    REQUIRE_FALSE(tx.begin());
    REQUIRE_FALSE(f.store->insert_batch("b1", {{"a", "echo", "{}", 0}}, 1));
  } // no commit
  auto st = f.store->status("b1");
  REQUIRE_FALSE(st);
  CHECK(st.error() == errc::unknown_batch);
}

TEST_CASE_TEMPLATE("attempt transitions update task, batch counters and events together", B, STORE_BACKENDS) {
  B f;
  insert(f, "b1", {{"a", "echo", "{}", 0}, {"b", "echo", "{}", 0}});
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

TEST_CASE_TEMPLATE("recent failures come latest failure first, whatever the submission order", B, STORE_BACKENDS) {
  B f;
  insert(f, "old", {{"slow", "exec", "{}", 0}, {"ok", "echo", "{}", 0}});
  insert(f, "new", {{"quick", "fail", "{}", 0}, {"later", "fail", "{}", 0}});
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

TEST_CASE_TEMPLATE("a group commit writes a started-and-ended attempt once and counts each batch once", B, STORE_BACKENDS) {
  B f;
  insert(f, "b1", {{"a", "echo", "{}", 0}, {"b", "fail", "{}", 0}, {"c", "sleep", "{}", 0}});
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
  auto q = [&](const std::string& sql) { return f.q(sql); };
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


TEST_CASE_TEMPLATE("an attempt's end that comes before its start in a group still writes one complete row", B,
                   STORE_BACKENDS) {
  B f;
  insert(f, "b1", {{"a", "echo", "{}", 0}});
  auto next = f.store->next_runnable(fleet::default_queue, 10);
  REQUIRE(next);
  REQUIRE(next->size() == 1);
  const auto& a = (*next)[0];
  std::vector<transition> group{ended(a, 1, 3000, task_disposition::succeeded),
                                attempt_started{a.seq, "b1", "a", 1, "w1", 2000, {}}};
  auto tx = f.store->transaction();
  REQUIRE_FALSE(tx.begin());
  auto recorded = f.store->record(group);
  REQUIRE_MESSAGE(recorded, error_text(recorded.error()));
  REQUIRE_FALSE(tx.commit());
  CHECK(f.q("SELECT count(*) FROM attempts WHERE worker_id = 'w1' AND started_at = 2000 AND finished_at = 3000"
            " AND outcome = 'succeeded'") == 1);
  CHECK(f.q("SELECT count(*) FROM tasks WHERE state = 'succeeded' AND attempts = 1") == 1);
}

TEST_CASE_TEMPLATE("an attempt's end whose start is not stored is refused, naming the attempt, and the group with it",
                   B, STORE_BACKENDS) {
  B f;
  insert(f, "b1", {{"a", "echo", "{}", 0}, {"b", "echo", "{}", 0}});
  auto next = f.store->next_runnable(fleet::default_queue, 10);
  REQUIRE(next);
  REQUIRE(next->size() == 2);
  const auto& a = (*next)[0];
  const auto& b = (*next)[1];
  // b's attempt started in a group that failed: its end alone would count an attempt with no row.
  std::vector<transition> group{attempt_started{a.seq, "b1", "a", 1, "w1", 2000, {}},
                                ended(a, 1, 3000, task_disposition::succeeded),
                                ended(b, 1, 3000, task_disposition::succeeded)};
  {
    auto tx = f.store->transaction();
    REQUIRE_FALSE(tx.begin());
    auto recorded = f.store->record(group);
    REQUIRE_FALSE(recorded);
    CHECK(recorded.error() == errc::database_error);
    CHECK(error_text(recorded.error()).find("attempt 1 of task \"b\" of batch b1") != std::string::npos);
    CHECK(error_text(recorded.error()).find("start is not stored") != std::string::npos);
  } // rolled back
  CHECK(f.q("SELECT count(*) FROM attempts") == 0);
  CHECK(f.q("SELECT count(*) FROM tasks WHERE state = 'pending' AND attempts = 0") == 2);
  CHECK(f.q("SELECT succeeded FROM batches") == 0);
  // Written again in order, start first, the same ends are stored.
  std::vector<transition> again{attempt_started{b.seq, "b1", "b", 1, "w2", 2500, {}}};
  again.insert(again.end(), group.begin(), group.end());
  auto tx = f.store->transaction();
  REQUIRE_FALSE(tx.begin());
  auto recorded = f.store->record(again);
  REQUIRE_MESSAGE(recorded, error_text(recorded.error()));
  REQUIRE_FALSE(tx.commit());
  CHECK(f.q("SELECT count(*) FROM attempts WHERE finished_at = 3000") == 2);
  CHECK(f.q("SELECT succeeded FROM batches") == 2);
}

TEST_CASE_TEMPLATE("settings changed at runtime round-trip through the database, field by field", B, STORE_BACKENDS) {
  B f;
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

TEST_CASE_TEMPLATE("a stored setting the program does not know is refused with its name", B, STORE_BACKENDS) {
  B f;
  f.exec("INSERT INTO config_overrides VALUES ('warp_speed', 9, 1)");
  auto back = f.store->load_config_overrides();
  REQUIRE_FALSE(back);
  CHECK(error_text(back.error()).find("warp_speed") != std::string::npos);
}

TEST_CASE_TEMPLATE("uploads never sealed expire, sealed batches and fresh uploads stay", B, STORE_BACKENDS) {
  B f;
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

TEST_CASE_TEMPLATE("a group of many attempt ends writes every row as the ends written one by one do", B,
                   STORE_BACKENDS) {
  // Two stores get the same changes: one as a single group (starts and ends of one attempt merged
  // into one row, batch counters once), the other one change per transaction.
  B grouped, single;
  std::vector<task> tasks;
  for (int i = 0; i < 75; ++i)
    tasks.push_back({"t" + std::to_string(i), "echo", "{\"i\":" + std::to_string(i) + "}", i % 3});
  insert(grouped, "b1", tasks);
  insert(single, "b1", tasks);
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
  record_group(*grouped.store, earlier);
  record_group(*grouped.store, group);
  for (const auto& change : earlier)
    record_group(*single.store, {change});
  for (const auto& change : group)
    record_group(*single.store, {change});
  const std::string tasks_sql = "SELECT seq, state, result, error, not_before, finished_at, duration_ms,"
                                " interruptions, attempts, started_at FROM tasks ORDER BY seq";
  const std::string attempts_sql = "SELECT task_seq, attempt, worker_id, started_at, finished_at, outcome, error, node"
                                   " FROM attempts ORDER BY task_seq, attempt";
  const std::string counts_sql = "SELECT succeeded, failed, retries, duration_ms, started_at, (SELECT count(*)"
                                 " FROM events WHERE kind LIKE 'task_%' OR kind = 'attempt_interrupted') FROM batches";
  auto grouped_tasks = grouped.rows(tasks_sql);
  CHECK(grouped_tasks.size() == 75);
  CHECK(grouped_tasks == single.rows(tasks_sql));
  CHECK(grouped.rows(attempts_sql) == single.rows(attempts_sql));
  CHECK(grouped.rows(counts_sql) == single.rows(counts_sql));
  // And the rows are what the ends said, not merely alike.
  CHECK(grouped.q("SELECT count(*) FROM tasks WHERE state = 'succeeded' AND result LIKE '{\"r\":%'") == 30);
  CHECK(grouped.q("SELECT count(*) FROM tasks WHERE state = 'retry_wait' AND not_before >= 9000") == 15);
  CHECK(grouped.q("SELECT count(*) FROM tasks WHERE state = 'pending' AND interruptions = 1") == 15);
  CHECK(grouped.q("SELECT count(*) FROM attempts WHERE finished_at IS NOT NULL") == 75);
  CHECK(grouped.q("SELECT count(*) FROM attempts WHERE node IS NOT NULL") == 19);
}

TEST_CASE_TEMPLATE("a results page stops at its byte budget, holds at least one result, and the next goes on", B, STORE_BACKENDS) {
  B f;
  std::vector<task> tasks;
  for (int i = 0; i < 5; ++i)
    tasks.push_back({"t" + std::to_string(i), "echo", "{}", 0});
  insert(f, "b1", tasks);
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

TEST_CASE_TEMPLATE("pruning takes the oldest finished batch in slices and resumes a batch where a crash left it", B,
                   STORE_BACKENDS) {
  B f;
  std::vector<task> tasks;
  for (int i = 0; i < 10; ++i)
    tasks.push_back({"t" + std::to_string(i), "echo", "{}", 0});
  insert(f, "A", tasks);
  insert(f, "B", {{"b", "echo", "{}", 0}});
  // A finishes at 2000, B at 9000.
  auto next = f.store->next_runnable(fleet::default_queue, 100);
  REQUIRE(next);
  REQUIRE(next->size() == 11);
  std::vector<transition> changes;
  for (const auto& t : *next) {
    changes.emplace_back(attempt_started{t.seq, t.batch_id, t.spec.id, 1, "w", 1500, {}});
    attempt_ended end;
    end.seq = t.seq;
    end.batch_id = t.batch_id;
    end.task_id = t.spec.id;
    end.attempt = 1;
    end.at = t.batch_id == "A" ? 2000 : 9000;
    end.outcome = attempt_outcome::succeeded;
    end.result = "{}";
    end.next = task_disposition::succeeded;
    changes.emplace_back(std::move(end));
  }
  record_group(f, changes);
  CHECK(f.q("SELECT finished_at FROM batches WHERE id = 'A'") == 2000);
  fleet_store::retention_policy policy;
  policy.retain_finished_ms = 1000;
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
  f.reopen();
  CHECK(f.q("SELECT first_seq FROM batches WHERE id = 'A'") == 5);
  CHECK(step(*f.store).tasks == 4);
  auto last = step(*f.store);
  CHECK(last.tasks == 2);
  CHECK(last.batches == 1);
  auto none = step(*f.store); // B finished at 9000, younger than 5000 - 1000
  CHECK(none.tasks == 0);
  CHECK_FALSE(none.more);
  CHECK(f.q("SELECT count(*) FROM tasks WHERE batch_id = 'A'") == 0);
  CHECK(f.q("SELECT count(*) FROM attempts") == 1);
  CHECK(f.q("SELECT count(*) FROM tasks WHERE batch_id = 'B'") == 1);
  CHECK(f.rows("SELECT batches, tasks, succeeded FROM fleet_totals") == std::vector<std::string>{"1|1|1"});
  auto pruned = f.rows("SELECT detail FROM events WHERE kind = 'batch_pruned' AND batch_id = 'A'");
  REQUIRE(pruned.size() == 1);
  CHECK(nlohmann::json::parse(pruned[0])["tasks"] == 10);
}
