// The start-up recovery on both backends (issues 16 and 24): attempts a dead process left open,
// the start journal's attempts whose start never reached the database, poison tasks given up after
// fleet.max-interruptions lost attempts, and the start-up job with fleetd's runs. The start journal
// file and SQLite's integrity check are in recovery_test.cpp.

#include "fleetd/error.hpp"
#include "fleet/manager/start_up.hpp"
#include "fleet/start_journal.hpp"
#include "fleet/store.hpp"
#include "fleet/write_pipeline.hpp"
#include "store_backends.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace fleet;
using namespace fleet::test;

namespace {

/// Starts attempt `attempt` of every runnable task and commits: a process dies with them running.
template <class B>
void start_all(B& f, int32_t attempt, int64_t at) {
  auto next = f.store->next_runnable(fleet::default_queue, 100);
  REQUIRE(next);
  auto tx = f.store->transaction();
  REQUIRE_FALSE(tx.begin());
  for (const auto& t : *next)
    REQUIRE_FALSE(f.store->record(attempt_started{t.seq, t.batch_id, t.spec.id, attempt, "w", at, {}}));
  REQUIRE_FALSE(tx.commit());
}

template <class B>
recovery recover(B& f, int64_t now, int32_t max, const std::vector<start_journal::entry>& starts = {}) {
  auto tx = f.store->transaction();
  REQUIRE_FALSE(tx.begin());
  auto r = f.store->recover_interrupted(now, max, starts);
  REQUIRE_MESSAGE(r, (r ? "" : error_text(r.error())));
  REQUIRE_FALSE(tx.commit());
  return *r;
}

template <class B>
int64_t seq_of(B& f, const std::string& task) {
  return f.q("SELECT seq FROM tasks WHERE task_id = '" + task + "'");
}

/// The one text value `sql` reads.
template <class B>
std::string text_of(B& f, const std::string& sql) {
  auto rows = f.cells(sql);
  REQUIRE(rows.size() == 1);
  REQUIRE(rows[0].size() == 1);
  return rows[0][0];
}

} // namespace

TEST_CASE_TEMPLATE("attempts left running run again until they were lost fleet.max-interruptions times", B, STORE_BACKENDS) {
  B f;
  insert(f, "b1", {{"poison", "exec", "{}", 5}, {"other", "echo", "{}", 0}});
  for (int32_t round = 1; round <= 2; ++round) {
    start_all(f, round, 1000 * round);
    auto r = recover(f, 1000 * round + 500, 3);
    CHECK(r.requeued == 2);
    CHECK(r.failed.empty());
  }
  CHECK(f.q("SELECT orphaned_attempts FROM tasks WHERE task_id = 'poison'") == 2);
  CHECK(f.q("SELECT interruptions FROM tasks WHERE task_id = 'poison'") == 2);
  // The third loss is the last: the task fails for good, with an error that says why.
  start_all(f, 3, 3000);
  auto r = recover(f, 3500, 3);
  CHECK(r.requeued == 0);
  REQUIRE(r.failed.size() == 2);
  CHECK(r.failed[0].error.find("given up after 3 lost attempts (fleet.max-interruptions)") == 0);
  CHECK(text_of(f, "SELECT state FROM tasks WHERE task_id = 'poison'") == "failed");
  // The lost attempt's end is unknown: the downtime is no part of its duration.
  CHECK(f.q("SELECT duration_ms FROM tasks WHERE task_id = 'poison'") == 0);
  auto st = f.store->status("b1");
  REQUIRE(st);
  CHECK(st->failed == 2);
  CHECK(st->finished_at == 3500);
  CHECK(f.q("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'") == 6);
  CHECK(f.q("SELECT count(*) FROM events WHERE kind = 'task_failed'") == 2);
  CHECK(f.q("SELECT failed FROM fleet_totals") == 2);
  // A dead letter, replayed with a fresh budget of lost attempts too.
  auto tx = f.store->transaction();
  REQUIRE_FALSE(tx.begin());
  auto replayed = f.store->replay("b1", {"poison"}, 4000);
  REQUIRE(replayed);
  CHECK(*replayed == 1);
  REQUIRE_FALSE(tx.commit());
  CHECK(f.q("SELECT orphaned_attempts FROM tasks WHERE task_id = 'poison'") == 0);
}

TEST_CASE_TEMPLATE("a task left running without its attempt's row gets one at recovery, and runs again", B, STORE_BACKENDS) {
  B f;
  insert(f, "b1", {{"a", "echo", "{}", 0}, {"b", "echo", "{}", 0}});
  start_all(f, 1, 1000);
  // What an older fleetd could leave: the task counts the attempt, the attempts table lacks it.
  f.exec("DELETE FROM attempts WHERE task_seq = " + std::to_string(seq_of(f, "b")));
  auto r = recover(f, 2000, 3);
  CHECK(r.requeued == 2);
  CHECK(f.q("SELECT count(*) FROM tasks WHERE state = 'pending' AND attempts = 1 AND interruptions = 1") == 2);
  CHECK(f.q("SELECT count(*) FROM attempts WHERE outcome = 'interrupted' AND finished_at = 2000") == 2);
  CHECK(text_of(f, "SELECT worker_id || ' ' || started_at FROM attempts WHERE task_seq = "
                     + std::to_string(seq_of(f, "b"))) == "unrecorded 2000");
  CHECK(text_of(f, "SELECT error FROM attempts WHERE task_seq = " + std::to_string(seq_of(f, "b")))
          .find("its start was not recorded") != std::string::npos);
}

TEST_CASE_TEMPLATE("a start the journal saw but the database never did is recorded as a lost attempt", B, STORE_BACKENDS) {
  B f;
  insert(f, "b1", {{"quick", "exec", "{}", 0}, {"recorded", "echo", "{}", 0}, {"done", "echo", "{}", 0}});
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
  CHECK(text_of(f, "SELECT state FROM tasks WHERE task_id = 'quick'") == "pending");
  CHECK(f.q("SELECT attempts FROM tasks WHERE task_id = 'quick'") == 1);
  CHECK(f.q("SELECT orphaned_attempts FROM tasks WHERE task_id = 'quick'") == 1);
  CHECK(f.rows("SELECT worker_id, started_at, outcome FROM attempts WHERE task_seq = " + std::to_string(quick))
        == std::vector<std::string>{"unrecorded|1200|interrupted"});
  CHECK(text_of(f, "SELECT state FROM tasks WHERE task_id = 'done'") == "succeeded");
  // A task at its last chance fails at once.
  auto again = recover(f, 2000, 2, {{quick, 2, 8, 1800}});
  REQUIRE(again.failed.size() == 1);
  CHECK(again.failed[0].task_id == "quick");
  CHECK(text_of(f, "SELECT state FROM tasks WHERE task_id = 'quick'") == "failed");
}

TEST_CASE_TEMPLATE("the start-up job recovers, drops stale uploads and reads what the manager starts from, in one commit", B, STORE_BACKENDS) {
  B f;
  insert(f, "b1", {{"a", "echo", "{}", 0}, {"b", "echo", "{}", 0}});
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
  CHECK(f.q("SELECT count(*) FROM tasks WHERE state = 'pending'") == 2);
  CHECK(f.q("SELECT count(*) FROM uploads") == 1);
  // Nothing left to recover: a second start changes nothing.
  in.now = 2100;
  started = run_start_up(*pipeline, in);
  REQUIRE(started);
  CHECK(started->recovered.requeued == 0);
  CHECK(started->expired_uploads == 0);
}

TEST_CASE_TEMPLATE("fleetd's runs: each start is recorded, a run that never stopped cleanly is found dead at the next", B, STORE_BACKENDS) {
  B f;
  auto pipeline = make_inline_pipeline(std::shared_ptr<fleet_store>(f.store.get(), [](fleet_store*) {}), [] {});
  start_up_input in;
  in.now = 1000;
  in.run = start_up_input::run_start{4711, "1.2.3", R"({"version": "1.2.3", "config": {"max-workers": 4}})"};
  auto first = run_start_up(*pipeline, in);
  REQUIRE(first);
  CHECK(first->run > 0);
  auto started_detail = nlohmann::json::parse(text_of(f, "SELECT detail FROM events WHERE kind = 'fleetd_started'"));
  CHECK(started_detail["run"] == first->run);
  CHECK(started_detail["version"] == "1.2.3");
  CHECK(started_detail["config"]["max-workers"] == 4);
  // No clean stop (a kill -9): the next start finds the run dead.
  in.now = 5000;
  in.run->pid = 4712;
  auto second = run_start_up(*pipeline, in);
  REQUIRE(second);
  CHECK(second->run > first->run);
  CHECK(nlohmann::json::parse(text_of(f, "SELECT detail FROM events WHERE kind = 'fleetd_stopped'"))
        == nlohmann::json{{"clean", false}, {"run", first->run}, {"started_at", 1000}});
  CHECK(f.q("SELECT found_dead_at FROM fleetd_runs WHERE id = " + std::to_string(first->run)) == 5000);
  // A clean stop is written as it happens, and the next start has nothing to find.
  REQUIRE_FALSE(pipeline->run([&](fleet_store& store) { return store.record_run_stop(second->run, 6500, 2); }));
  CHECK(nlohmann::json::parse(text_of(f, "SELECT detail FROM events WHERE kind = 'fleetd_stopped' ORDER BY id DESC LIMIT 1"))
        == nlohmann::json{{"clean", true}, {"run", second->run}, {"running", 2}, {"uptime_ms", 1500}});
  in.now = 7000;
  auto third = run_start_up(*pipeline, in);
  REQUIRE(third);
  CHECK(f.q("SELECT count(*) FROM events WHERE kind = 'fleetd_stopped'") == 2);
  CHECK(f.q("SELECT count(*) FROM fleetd_runs WHERE stopped_at IS NULL AND found_dead_at IS NULL") == 1);
  // The wall clock stepped back by 3 s while it ran: 2 s apart on the clock, 5 s of uptime.
  REQUIRE_FALSE(pipeline->run([&](fleet_store& store) { return store.record_run_stop(third->run, 9000, 0, -3000); }));
  CHECK(nlohmann::json::parse(text_of(f, "SELECT detail FROM events WHERE kind = 'fleetd_stopped' ORDER BY id DESC LIMIT 1"))["uptime_ms"]
        == 5000);
  // A manager that records no run writes none.
  in.run.reset();
  in.now = 8000;
  auto unrecorded = run_start_up(*pipeline, in);
  REQUIRE(unrecorded);
  CHECK(unrecorded->run == 0);
  CHECK(f.q("SELECT count(*) FROM fleetd_runs") == 3);
}

TEST_CASE_TEMPLATE("with hold_node_attempts, an attempt on a fleet-node stays open for its node, with its task", B,
                   STORE_BACKENDS) {
  B f;
  insert(f, "b1", {{"mine", "echo", "{}", 0}, {"remote", "echo", "{\"x\":1}", 3}});
  insert(f, "b2", {{"going", "echo", "{}", 0}});
  auto mine = seq_of(f, "mine"), remote = seq_of(f, "remote"), going = seq_of(f, "going");
  {
    auto tx = f.store->transaction();
    REQUIRE_FALSE(tx.begin());
    REQUIRE_FALSE(f.store->record(attempt_started{mine, "b1", "mine", 1, "w-local", 1000, {}}));
    REQUIRE_FALSE(f.store->record(attempt_started{remote, "b1", "remote", 1, "w-remote", 1100, "n1"}));
    REQUIRE_FALSE(f.store->record(attempt_started{going, "b2", "going", 1, "w-going", 1200, "n1"}));
    REQUIRE_FALSE(tx.commit());
  }
  {
    // A batch being cancelled: its attempt is not held (nothing of it should go on).
    auto tx = f.store->transaction();
    REQUIRE_FALSE(tx.begin());
    REQUIRE(f.store->cancel_batch("b2", 1300));
    REQUIRE_FALSE(tx.commit());
  }
  auto tx = f.store->transaction();
  REQUIRE_FALSE(tx.begin());
  auto r = f.store->recover_interrupted(2000, 3, {}, {}, true);
  REQUIRE_MESSAGE(r, (r ? "" : error_text(r.error())));
  REQUIRE_FALSE(tx.commit());
  CHECK(r->requeued == 2);
  REQUIRE(r->held.size() == 1);
  const auto& h = r->held[0];
  CHECK(h.node == "n1");
  CHECK(h.worker_id == "w-remote");
  CHECK(h.attempt == 1);
  CHECK(h.started_at == 1100);
  CHECK(h.task.seq == remote);
  CHECK(h.task.batch_id == "b1");
  CHECK(h.task.spec.id == "remote");
  CHECK(h.task.spec.priority == 3);
  CHECK(h.task.attempts == 1);
  CHECK(h.task.spec.queue == fleet::default_queue);
  CHECK(text_of(f, "SELECT state FROM tasks WHERE task_id = 'remote'") == "running");
  CHECK(f.q("SELECT count(*) FROM attempts WHERE finished_at IS NULL") == 1);
  CHECK(f.q("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'") == 2);
  // Without it (the manager's default), every open attempt is interrupted.
  auto again = recover(f, 3000, 3);
  CHECK(again.held.empty());
  CHECK(again.requeued == 1);
  CHECK(f.q("SELECT count(*) FROM attempts WHERE finished_at IS NULL") == 0);
}
