// The start-up recovery (issue 16): attempts a dead process left open, the start journal's
// attempts whose start never reached the database, and poison tasks given up after
// fleet.max-interruptions lost attempts. Also the start journal itself, and the integrity check.

#include "fleetd/error.hpp"
#include "fleet/manager/start_up.hpp"
#include "fleet/write_pipeline.hpp"
#include "fleet/start_journal.hpp"
#include "fleet/store.hpp"
#include "query_db.hpp"
#include "store_fixture.hpp"

#include <doctest/doctest.h>

#include <fstream>

using namespace fleet;
using namespace fleet::test;

namespace {

/// Starts attempt `attempt` of every runnable task and commits: a process dies with them running.
void start_all(store_fixture& f, int32_t attempt, int64_t at) {
  auto next = f.store->next_runnable(fleet::default_queue, 100);
  REQUIRE(next);
  auto tx = f.store->transaction();
  REQUIRE_FALSE(tx.begin());
  for (const auto& t : *next)
    REQUIRE_FALSE(f.store->record(attempt_started{t.seq, t.batch_id, t.spec.id, attempt, "w", at, {}}));
  REQUIRE_FALSE(tx.commit());
}

recovery recover(store_fixture& f, int64_t now, int32_t max, const std::vector<start_journal::entry>& starts = {}) {
  auto tx = f.store->transaction();
  REQUIRE_FALSE(tx.begin());
  auto r = f.store->recover_interrupted(now, max, starts);
  REQUIRE_MESSAGE(r, (r ? "" : error_text(r.error())));
  REQUIRE_FALSE(tx.commit());
  return *r;
}

int64_t seq_of(store_fixture& f, const std::string& task) {
  return query_db_int(f.path, "SELECT seq FROM tasks WHERE task_id = '" + task + "'");
}

} // namespace

TEST_CASE("attempts left running run again until they were lost fleet.max-interruptions times") {
  store_fixture f;
  f.insert("b1", {{"poison", "exec", "{}", 5}, {"other", "echo", "{}", 0}});
  for (int32_t round = 1; round <= 2; ++round) {
    start_all(f, round, 1000 * round);
    auto r = recover(f, 1000 * round + 500, 3);
    CHECK(r.requeued == 2);
    CHECK(r.failed.empty());
  }
  CHECK(query_db_int(f.path, "SELECT orphaned_attempts FROM tasks WHERE task_id = 'poison'") == 2);
  CHECK(query_db_int(f.path, "SELECT interruptions FROM tasks WHERE task_id = 'poison'") == 2);
  // The third loss is the last: the task fails for good, with an error that says why.
  start_all(f, 3, 3000);
  auto r = recover(f, 3500, 3);
  CHECK(r.requeued == 0);
  REQUIRE(r.failed.size() == 2);
  CHECK(r.failed[0].error.find("given up after 3 lost attempts (fleet.max-interruptions)") == 0);
  CHECK(query_db_text(f.path, "SELECT state FROM tasks WHERE task_id = 'poison'") == "failed");
  // The lost attempt's end is unknown: the downtime is no part of its duration.
  CHECK(query_db_int(f.path, "SELECT duration_ms FROM tasks WHERE task_id = 'poison'") == 0);
  auto st = f.store->status("b1");
  REQUIRE(st);
  CHECK(st->failed == 2);
  CHECK(st->finished_at == 3500);
  CHECK(query_db_int(f.path, "SELECT count(*) FROM attempts WHERE outcome = 'interrupted'") == 6);
  CHECK(query_db_int(f.path, "SELECT count(*) FROM events WHERE kind = 'task_failed'") == 2);
  CHECK(query_db_int(f.path, "SELECT failed FROM fleet_totals") == 2);
  // A dead letter, replayed with a fresh budget of lost attempts too.
  auto tx = f.store->transaction();
  REQUIRE_FALSE(tx.begin());
  auto replayed = f.store->replay("b1", {"poison"}, 4000);
  REQUIRE(replayed);
  CHECK(*replayed == 1);
  REQUIRE_FALSE(tx.commit());
  CHECK(query_db_int(f.path, "SELECT orphaned_attempts FROM tasks WHERE task_id = 'poison'") == 0);
}

TEST_CASE("a start the journal saw but the database never did is recorded as a lost attempt") {
  store_fixture f;
  f.insert("b1", {{"quick", "exec", "{}", 0}, {"recorded", "echo", "{}", 0}, {"done", "echo", "{}", 0}});
  auto quick = seq_of(f, "quick"), recorded = seq_of(f, "recorded"), done = seq_of(f, "done");
  // "recorded" started and committed; "done" finished; "quick" never reached the database.
  {
    auto tx = f.store->transaction();
    REQUIRE_FALSE(tx.begin());
    REQUIRE_FALSE(f.store->record(attempt_started{recorded, "b1", "recorded", 1, "w", 1000, {}}));
    attempt_started s{done, "b1", "done", 1, "w", 1000, {}};
    attempt_ended e;
    e.seq = done;
    e.batch_id = "b1";
    e.task_id = "done";
    e.attempt = 1;
    e.at = 1100;
    e.outcome = attempt_outcome::succeeded;
    e.next = task_disposition::succeeded;
    REQUIRE(f.store->record(std::vector<transition>{s, e}));
    REQUIRE_FALSE(tx.commit());
  }
  std::vector<start_journal::entry> journal{
    {quick, 1, 7, 1200}, {recorded, 1, 7, 1000}, {done, 1, 7, 1000}, {quick, 1, 7, 1200}, {999, 1, 7, 1000}};
  auto r = recover(f, 1500, 3, journal);
  CHECK(r.unrecorded == 1); // once, though the journal named it twice
  CHECK(r.requeued == 1);   // "recorded", through its open attempt
  CHECK(query_db_text(f.path, "SELECT state FROM tasks WHERE task_id = 'quick'") == "pending");
  CHECK(query_db_int(f.path, "SELECT attempts FROM tasks WHERE task_id = 'quick'") == 1);
  CHECK(query_db_int(f.path, "SELECT orphaned_attempts FROM tasks WHERE task_id = 'quick'") == 1);
  CHECK(query_db_text(f.path, "SELECT worker_id || ' ' || started_at || ' ' || outcome FROM attempts "
                              "WHERE task_seq = " + std::to_string(quick)) == "unrecorded 1200 interrupted");
  CHECK(query_db_text(f.path, "SELECT state FROM tasks WHERE task_id = 'done'") == "succeeded");
  // A task at its last chance fails at once.
  auto again = recover(f, 2000, 2, {{quick, 2, 8, 1800}});
  REQUIRE(again.failed.size() == 1);
  CHECK(again.failed[0].task_id == "quick");
  CHECK(query_db_text(f.path, "SELECT state FROM tasks WHERE task_id = 'quick'") == "failed");
}

TEST_CASE("the start journal hands the next run what the last one did not clear, and survives a reopen") {
  temp_dir dir;
  auto path = dir.file("fleet.db-starts");
  {
    auto j = start_journal::open(path, 8);
    REQUIRE(j);
    CHECK((*j)->previous_run().empty());
    for (int64_t seq = 1; seq <= 5; ++seq)
      (*j)->note(seq, 1, 100 * seq);
    auto slot = (*j)->note(6, 2, 600);
    (*j)->clear(slot, 6);
    (*j)->clear(0, 99); // a slot another start has taken since: left alone
  }
  {
    auto j = start_journal::open(path, 8);
    REQUIRE(j);
    const auto& previous = (*j)->previous_run();
    REQUIRE(previous.size() == 5);
    CHECK(previous.front().seq == 1);
    CHECK(previous.back().seq == 5);
    CHECK(previous.back().started_at == 500);
    // The ring wraps: only the newest entries of this run survive, oldest first.
    for (int64_t seq = 10; seq < 20; ++seq)
      (*j)->note(seq, 1, seq);
  }
  {
    auto j = start_journal::open(path, 8);
    REQUIRE(j);
    const auto& previous = (*j)->previous_run();
    REQUIRE(previous.size() == 8);
    CHECK(previous.front().seq == 12);
    CHECK(previous.back().seq == 19);
  }
  // A file that is not a journal (a power cut, another program's file) starts over.
  { std::ofstream{path, std::ios::binary | std::ios::trunc} << "garbage"; }
  auto j = start_journal::open(path, 8);
  REQUIRE(j);
  CHECK((*j)->previous_run().empty());
}

TEST_CASE("a damaged database is refused at open, before anything is written into it") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  {
    auto s = fleet_store::open({path, "normal"});
    REQUIRE(s);
    std::vector<task> tasks;
    for (int i = 0; i < 3000; ++i)
      tasks.push_back({"t" + std::to_string(i), "echo", R"({"payload": "some bytes to fill pages"})", 0});
    auto tx = (*s)->transaction();
    REQUIRE_FALSE(tx.begin());
    REQUIRE_FALSE((*s)->insert_batch("b1", tasks, 1000));
    REQUIRE_FALSE(tx.commit());
  }
  // Overwrite the header of the index tasks_runnable's root page.
  auto root = query_db_int(path, "SELECT rootpage FROM sqlite_schema WHERE name = 'tasks_runnable'");
  auto page_size = query_db_int(path, "PRAGMA page_size");
  {
    std::fstream file{path, std::ios::in | std::ios::out | std::ios::binary};
    file.seekp((root - 1) * page_size);
    std::string garbage(64, '\xff');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  auto size_before = std::filesystem::file_size(path);
  auto damaged = fleet_store::open({path, "normal"});
  REQUIRE_FALSE(damaged);
  CHECK(damaged.error() == errc::database_damaged);
  auto text = error_text(damaged.error());
  CHECK_MESSAGE(text.find("is damaged (PRAGMA quick_check: ") != std::string::npos, text);
  CHECK(text.find(".recover") != std::string::npos);
  CHECK(std::filesystem::file_size(path) == size_before);
  // Opened without the check (damage that appears later), the first read of it says what it is.
  auto unchecked = fleet_store::open({path, "normal", 0, false});
  REQUIRE(unchecked);
  auto runnable = (*unchecked)->next_runnable(fleet::default_queue, 10);
  REQUIRE_FALSE(runnable);
  CHECK(runnable.error() == errc::database_damaged);
  CHECK(error_text(runnable.error()).find("the database file is damaged (") == 0);
}

TEST_CASE("the start-up job recovers, drops stale uploads and reads what the manager starts from, in one commit") {
  store_fixture f;
  f.insert("b1", {{"a", "echo", "{}", 0}, {"b", "echo", "{}", 0}});
  start_all(f, 1, 1000);
  {
    auto tx = f.store->transaction();
    REQUIRE_FALSE(tx.begin());
    REQUIRE_FALSE(f.store->open_upload("old", 10));
    REQUIRE_FALSE(f.store->open_upload("new", 1900));
    REQUIRE(f.store->set_fleet_paused(true, 1000));
    REQUIRE_FALSE(tx.commit());
  }
  auto pipeline = make_inline_pipeline(std::shared_ptr<fleet_store>(f.store.get(), [](fleet_store*) {}), [] {});
  start_up_input in;
  in.now = 2000;
  in.upload_expiry_before = 1000;
  auto started = run_start_up(*pipeline, in);
  REQUIRE(started);
  CHECK(started->recovered.requeued == 2);
  CHECK(started->expired_uploads == 1);
  CHECK(started->unfinished_tasks == 2);
  CHECK(started->fleet_paused);
  CHECK(started->totals.total_results == 0);
  CHECK(query_db_int(f.path, "SELECT count(*) FROM tasks WHERE state = 'pending'") == 2);
  CHECK(query_db_int(f.path, "SELECT count(*) FROM uploads") == 1);
  // Nothing left to recover: a second start changes nothing.
  in.now = 2100;
  started = run_start_up(*pipeline, in);
  REQUIRE(started);
  CHECK(started->recovered.requeued == 0);
  CHECK(started->expired_uploads == 0);
}

TEST_CASE("fleetd's runs: each start is recorded, a run that never stopped cleanly is found dead at the next") {
  store_fixture f;
  auto pipeline = make_inline_pipeline(std::shared_ptr<fleet_store>(f.store.get(), [](fleet_store*) {}), [] {});
  start_up_input in;
  in.now = 1000;
  in.run = start_up_input::run_start{4711, "1.2.3", R"({"version": "1.2.3", "config": {"max-workers": 4}})"};
  auto first = run_start_up(*pipeline, in);
  REQUIRE(first);
  CHECK(first->run > 0);
  CHECK(query_db_text(f.path, "SELECT json_extract(detail, '$.run') || ' ' || json_extract(detail, '$.version') || ' '"
                              " || json_extract(detail, '$.config.max-workers') FROM events WHERE kind = 'fleetd_started'")
        == std::to_string(first->run) + " 1.2.3 4");
  // No clean stop (a kill -9): the next start finds the run dead.
  in.now = 5000;
  in.run->pid = 4712;
  auto second = run_start_up(*pipeline, in);
  REQUIRE(second);
  CHECK(second->run > first->run);
  CHECK(query_db_text(f.path, "SELECT detail FROM events WHERE kind = 'fleetd_stopped'")
        == R"({"clean":false,"run":)" + std::to_string(first->run) + R"(,"started_at":1000})");
  CHECK(query_db_int(f.path, "SELECT found_dead_at FROM fleetd_runs WHERE id = " + std::to_string(first->run)) == 5000);
  // A clean stop is written as it happens, and the next start has nothing to find.
  REQUIRE_FALSE(pipeline->run([&](fleet_store& store) { return store.record_run_stop(second->run, 6500, 2); }));
  CHECK(query_db_text(f.path, "SELECT detail FROM events WHERE kind = 'fleetd_stopped' ORDER BY id DESC LIMIT 1")
        == R"({"clean":true,"run":)" + std::to_string(second->run) + R"(,"running":2,"uptime_ms":1500})");
  in.now = 7000;
  auto third = run_start_up(*pipeline, in);
  REQUIRE(third);
  CHECK(query_db_int(f.path, "SELECT count(*) FROM events WHERE kind = 'fleetd_stopped'") == 2);
  CHECK(query_db_int(f.path, "SELECT count(*) FROM fleetd_runs WHERE stopped_at IS NULL AND found_dead_at IS NULL") == 1);
  // The wall clock stepped back by 3 s while it ran: 2 s apart on the clock, 5 s of uptime.
  REQUIRE_FALSE(pipeline->run([&](fleet_store& store) { return store.record_run_stop(third->run, 9000, 0, -3000); }));
  CHECK(query_db_int(f.path, "SELECT json_extract(detail, '$.uptime_ms') FROM events WHERE kind = 'fleetd_stopped'"
                             " ORDER BY id DESC LIMIT 1")
        == 5000);
  // A manager that records no run writes none.
  in.run.reset();
  in.now = 8000;
  auto unrecorded = run_start_up(*pipeline, in);
  REQUIRE(unrecorded);
  CHECK(unrecorded->run == 0);
  CHECK(query_db_int(f.path, "SELECT count(*) FROM fleetd_runs") == 3);
}
