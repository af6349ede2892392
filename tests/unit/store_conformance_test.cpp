// One suite, two backends: every case runs on the SQLite store and on the PostgreSQL store, through
// the fleet_store interface alone, and checks the rows with SQL both dialects read alike. What one
// backend does that the other does not fails here (Zeek Broker tests its backends this way).

#include "fleet/store.hpp"
#include "fleet/upload_part.hpp"
#include "fleetd/error.hpp"
#include "fleetd/queue.hpp"
#include "gunzip_lines.hpp"
#include "in_transaction.hpp"
#include "store_backends.hpp"
#include "store_conformance.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

using namespace fleet;
using namespace fleet::test;

#define BACKENDS sqlite_backend, postgres_backend

TEST_CASE_TEMPLATE("both stores: a submit stores tasks in run order, delayed ones wait and become due", B, BACKENDS) {
  B b;
  task later{"later", "echo", "{}", 0};
  later.run_at = 5000;
  submit(b, "b1", {{"low", "echo", "{\"x\":1}", 0}, {"high", "echo", "{}", 5}, later, {"mid", "echo", "{}", 1}});
  auto next = runnable(b);
  REQUIRE(next.size() == 3);
  CHECK(next[0].spec.id == "high");
  CHECK(next[1].spec.id == "mid");
  CHECK(next[2].spec.id == "low");
  CHECK(next[2].spec.data == "{\"x\":1}");
  auto st = b.store->status("b1");
  REQUIRE(st);
  CHECK(st->total == 4);
  CHECK(st->status == batch_state::pending);
  CHECK(b.q("SELECT scheduled FROM batches WHERE id = 'b1'") == 1);
  CHECK(b.q("SELECT last_seq - first_seq + 1 FROM batches WHERE id = 'b1'") == 4);
  // The tasks' seqs follow the first one in submission order: the manager takes a submit's tasks
  // into its windows by them, without a read.
  auto first = b.store->first_seq("b1");
  REQUIRE(first);
  CHECK(named(next, "low").seq == *first);
  CHECK(named(next, "high").seq == *first + 1);
  CHECK(named(next, "mid").seq == *first + 3);
  auto unfinished = b.store->queues_with_unfinished_tasks();
  REQUIRE(unfinished);
  CHECK(*unfinished == std::vector<std::string>{default_queue});
  auto due = b.store->next_due();
  REQUIRE(due);
  REQUIRE(static_cast<bool>(*due));
  CHECK(**due == 5000);
  auto promoted = in_transaction(*b.store, [&] { return b.store->promote_due(5000, 100); });
  REQUIRE(promoted);
  CHECK(promoted->promoted == 1);
  CHECK(runnable(b).size() == 4);
  CHECK(b.q("SELECT scheduled FROM batches WHERE id = 'b1'") == 0);
  CHECK(b.q("SELECT count(*) FROM events WHERE kind = 'batch_submitted' AND batch_id = 'b1'") == 1);
  auto totals = b.store->totals();
  REQUIRE(totals);
  CHECK(totals->tasks == 4);
}

TEST_CASE_TEMPLATE("both stores: a group commit writes attempts, counters, milestones and events alike", B, BACKENDS) {
  B b;
  submit(b, "b1", {{"a", "echo"}, {"b", "fail"}, {"c", "sleep"}});
  auto next = runnable(b);
  REQUIRE(next.size() == 3);
  const auto &a = named(next, "a"), &bb = named(next, "b"), &c = named(next, "c");
  auto first = write(b, {started(a, 1, 2000, "node-a"), started(bb, 1, 2000), started(c, 1, 2000),
                         ended(a, 1, 3000, task_disposition::succeeded), ended(bb, 1, 3000, task_disposition::retry)});
  REQUIRE(first.size() == 1);
  CHECK(first[0].batch_id == "b1");
  CHECK_FALSE(first[0].finished);
  CHECK(b.q("SELECT count(*) FROM attempts") == 3);
  CHECK(b.q("SELECT count(*) FROM attempts WHERE started_at = 2000 AND finished_at = 3000") == 2);
  CHECK(b.q("SELECT count(*) FROM attempts WHERE node = 'node-a'") == 1);
  CHECK(b.q("SELECT count(*) FROM tasks WHERE task_id = 'c' AND state = 'running'") == 1);
  CHECK(b.q("SELECT count(*) FROM tasks WHERE task_id = 'b' AND state = 'retry_wait' AND not_before = 3500") == 1);
  CHECK(b.q("SELECT count(*) FROM events WHERE kind = 'task_retry_scheduled'") == 1);
  CHECK(b.q("SELECT started_at FROM batches") == 2000);
  CHECK(b.q("SELECT retries FROM fleet_totals") == 1);
  // The retry comes due, runs, is requeued and runs again within one group: two ends of one task.
  auto promoted = in_transaction(*b.store, [&] { return b.store->promote_due(3500, 10); });
  REQUIRE(promoted);
  CHECK(promoted->promoted == 1);
  auto requeued = ended(bb, 2, 3700, task_disposition::requeue);
  requeued.outcome = attempt_outcome::interrupted;
  auto last = write(b, {ended(c, 1, 3600, task_disposition::succeeded), started(bb, 2, 3600), requeued,
                        started(bb, 3, 3800), ended(bb, 3, 3900, task_disposition::failed)});
  REQUIRE(last.size() == 1);
  CHECK(last[0].finished);
  auto st = b.store->status("b1");
  REQUIRE(st);
  CHECK(st->status == batch_state::partial);
  CHECK(st->completed == 2);
  CHECK(st->failed == 1);
  CHECK(b.q("SELECT attempts FROM tasks WHERE task_id = 'b'") == 3);
  CHECK(b.q("SELECT interruptions FROM tasks WHERE task_id = 'b'") == 1);
  CHECK(b.q("SELECT count(*) FROM attempts WHERE finished_at IS NULL") == 0);
  CHECK(b.q("SELECT count(*) FROM events WHERE kind = 'batch_finished'") == 1);
  CHECK(b.q("SELECT succeeded FROM fleet_totals") == 2);
  CHECK(b.q("SELECT failed FROM fleet_totals") == 1);
  auto results = b.store->results("b1");
  REQUIRE(results);
  REQUIRE(results->size() == 3);
  CHECK((*results)[0].result == "{\"from\":\"a\"}");
  CHECK_FALSE((*results)[1].success);
  CHECK((*results)[1].error == "boom b");
  auto stats = b.store->stats();
  REQUIRE(stats);
  CHECK(stats->completed_tasks == 2);
  CHECK(stats->failed_tasks == 1);
}

TEST_CASE_TEMPLATE("both stores: small dependency results come with their task, bigger ones are read at its start",
                   B, BACKENDS) {
  B b;
  task join{"join", "echo"};
  join.after = {"a", "b"};
  submit(b, "g", {{"a", "echo"}, {"b", "echo"}, join, {"later", "echo"}});
  auto next = runnable(b);
  REQUIRE(next.size() == 3);
  CHECK(named(next, "a").dependencies == 0);
  write(b, {started(named(next, "a"), 1, 2000), ended(named(next, "a"), 1, 2100, task_disposition::succeeded),
            started(named(next, "b"), 1, 2000), ended(named(next, "b"), 1, 2100, task_disposition::succeeded)});
  CHECK(b.store->take_released());
  next = runnable(b);
  REQUIRE(next.size() == 2);
  const auto expected = nlohmann::json::parse(R"({"a": {"from": "a"}, "b": {"from": "b"}})");
  CHECK(named(next, "join").dependencies == 2);
  CHECK(nlohmann::json::parse(named(next, "join").spec.deps) == expected);
  CHECK(named(next, "later").dependencies == 0);
  CHECK(named(next, "later").spec.deps.empty());
  auto seq = named(next, "join").seq;
  auto stored = b.q("SELECT sum(length(result)) FROM tasks WHERE task_id IN ('a', 'b')");
  auto results = b.store->dependency_results(seq, 1 << 20);
  REQUIRE(results);
  CHECK(results->bytes == stored);
  CHECK(nlohmann::json::parse(results->object) == expected);
  // Over what the caller takes: only the size.
  results = b.store->dependency_results(seq, stored - 1);
  REQUIRE(results);
  CHECK(results->bytes == stored);
  CHECK(results->object.empty());
  // Over max_inline_dependency_bytes: the row leaves them out, the read at the start gives them.
  auto pad = std::string(max_inline_dependency_bytes / 2 + 10, 'p');
  b.exec("UPDATE tasks SET result = '\"" + pad + "\"' WHERE task_id IN ('a', 'b')");
  next = runnable(b);
  REQUIRE(next.size() == 2);
  CHECK(named(next, "join").dependencies == 2);
  CHECK(named(next, "join").spec.deps.empty());
  results = b.store->dependency_results(seq, 1 << 20);
  REQUIRE(results);
  CHECK(results->bytes == 2 * static_cast<int64_t>(pad.size() + 2));
  CHECK(nlohmann::json::parse(results->object) == nlohmann::json{{"a", pad}, {"b", pad}});
  // Results that are not JSON, together over what a read builds into one object (SQLite would
  // refuse the value, failing the read), whatever the caller asks for.
  constexpr int64_t each = max_dependency_object_bytes / 2 + 1000;
  if constexpr (std::is_same_v<B, sqlite_backend>)
    b.exec(fmt::format("UPDATE tasks SET result = hex(zeroblob({})) WHERE task_id IN ('a', 'b')", each / 2));
  else
    b.exec(fmt::format("UPDATE tasks SET result = repeat('0', {}) WHERE task_id IN ('a', 'b')", each));
  next = runnable(b);
  REQUIRE(next.size() == 2);
  CHECK(named(next, "join").spec.deps.empty());
  results = b.store->dependency_results(seq, INT64_MAX);
  REQUIRE(results);
  CHECK(results->bytes == 2 * each);
  CHECK(results->object.empty());
  // A task without dependencies has none to read.
  results = b.store->dependency_results(named(next, "later").seq, 1 << 20);
  REQUIRE(results);
  CHECK(results->bytes == 0);
  CHECK(results->object == "{}");
}

TEST_CASE_TEMPLATE("both stores: a batch of 100,000 tasks is paused, resumed and cancelled whole", B, BACKENDS) {
  B b;
  // Each statement changes every row of the batch: megabytes of pages, which a statement's journal
  // keeps (SQLite 3.40.1 failed such statements with SQLITE_FULL above a 128 KiB spill threshold).
  std::vector<task> tasks;
  tasks.reserve(100'000);
  for (int i = 0; i < 100'000; ++i)
    tasks.push_back({fmt::format("t{}", i), "echo", fmt::format(R"({{"n":{}}})", i)});
  submit(b, "big", tasks);
  auto paused = in_transaction(*b.store, [&] { return b.store->set_batch_paused("big", true, 2000); });
  REQUIRE_MESSAGE(paused, error_text(paused.error()));
  CHECK(*paused);
  CHECK(b.q("SELECT count(*) FROM tasks WHERE paused = 1") == 100'000);
  auto resumed = in_transaction(*b.store, [&] { return b.store->set_batch_paused("big", false, 3000); });
  REQUIRE_MESSAGE(resumed, error_text(resumed.error()));
  CHECK(b.q("SELECT count(*) FROM tasks WHERE paused = 0") == 100'000);
  auto cancelled = in_transaction(*b.store, [&] { return b.store->cancel_batch("big", 4000); });
  REQUIRE_MESSAGE(cancelled, error_text(cancelled.error()));
  CHECK(b.q("SELECT count(*) FROM tasks WHERE state = 'cancelled'") == 100'000);
  CHECK(b.q("SELECT cancelled FROM batches WHERE id = 'big'") == 100'000);
}

TEST_CASE_TEMPLATE("both stores: a batch of big tasks that many others run after is stored", B, BACKENDS) {
  B b;
  // Counting each task's dependents rewrites its row, 1 MB of data each: ten of them are more
  // than a statement journal holds in memory.
  std::vector<task> tasks;
  std::vector<std::string> roots;
  for (int i = 0; i < 10; ++i) {
    roots.push_back(fmt::format("r{}", i));
    tasks.push_back({roots.back(), "echo", R"({"pad":")" + std::string(1'000'000, 'x') + R"("})"});
  }
  for (int i = 0; i < 300; ++i) {
    task t{fmt::format("d{}", i), "echo"};
    t.after = roots;
    tasks.push_back(std::move(t));
  }
  submit(b, "fan", tasks);
  CHECK(b.q("SELECT count(*) FROM task_deps") == 3000);
  CHECK(b.q("SELECT count(*) FROM tasks WHERE dependents = 300") == 10);
  CHECK(runnable(b).size() == 10);
}

TEST_CASE_TEMPLATE("both stores: dependencies release on success, skip on failure, and come back with a replay", B,
                   BACKENDS) {
  B b;
  task second{"second", "echo"};
  second.after = {"first"};
  task third{"third", "echo"};
  third.after = {"second"};
  task side{"side", "echo"};
  side.after = {"first"};
  submit(b, "g", {{"first", "echo"}, second, third, side});
  auto st = b.store->status("g");
  REQUIRE(st);
  CHECK(st->blocked == 3);
  auto next = runnable(b);
  REQUIRE(next.size() == 1);
  write(b, {started(next[0], 1, 2000), ended(next[0], 1, 2100, task_disposition::succeeded)});
  CHECK(b.store->take_released());
  next = runnable(b);
  REQUIRE(next.size() == 2);
  // A dependent's attempt receives the results of what it ran after.
  CHECK(named(next, "second").spec.deps.find("\"first\"") != std::string::npos);
  write(b, {started(named(next, "second"), 1, 2200), ended(named(next, "second"), 1, 2300, task_disposition::failed),
            started(named(next, "side"), 1, 2200), ended(named(next, "side"), 1, 2300, task_disposition::succeeded)});
  st = b.store->status("g");
  REQUIRE(st);
  CHECK(st->failed == 2); // second, and third that was skipped
  CHECK(st->finished_at == 2300);
  CHECK(b.q("SELECT count(*) FROM tasks WHERE task_id = 'third' AND state = 'failed' AND attempts = 0") == 1);
  CHECK(b.q("SELECT count(*) FROM events WHERE kind = 'tasks_skipped'") == 1);
  // Replaying the failed dependency brings back the task it skipped, blocked again behind it.
  auto replayed = in_transaction(*b.store, [&] { return b.store->replay("g", {"second"}, 3000); });
  REQUIRE(replayed);
  CHECK(*replayed == 2);
  CHECK(b.q("SELECT count(*) FROM tasks WHERE task_id = 'third' AND state = 'blocked'") == 1);
  next = runnable(b);
  REQUIRE(next.size() == 1);
  CHECK(next[0].spec.id == "second");
  // Replaying the skipped task alone is refused: what it runs after stays failed.
  B other;
  submit(other, "h", {{"first", "echo"}, second, third});
  auto n = runnable(other);
  write(other, {started(n[0], 1, 2000), ended(n[0], 1, 2100, task_disposition::succeeded)});
  n = runnable(other);
  write(other, {started(n[0], 1, 2200), ended(n[0], 1, 2300, task_disposition::failed)});
  auto refused = in_transaction(*other.store, [&] { return other.store->replay("h", {"third"}, 3000); });
  REQUIRE_FALSE(refused);
  CHECK(code(refused.error()) == errc::invalid_task);
}

TEST_CASE_TEMPLATE("both stores: a cycle, an unknown dependency and a repeated id store nothing", B, BACKENDS) {
  B b;
  task x{"x", "echo"};
  x.after = {"y"};
  task y{"y", "echo"};
  y.after = {"x"};
  auto cycle = in_transaction(*b.store, [&] { return b.store->insert_batch("c", {x, y, {"z", "echo"}}, 1000); });
  REQUIRE(cycle);
  CHECK(code(cycle) == errc::invalid_batch);
  CHECK(error_text(cycle).find("cycle") != std::string::npos);
  task lost{"lost", "echo"};
  lost.after = {"nobody"};
  auto unknown = in_transaction(*b.store, [&] { return b.store->insert_batch("u", {lost}, 1000); });
  REQUIRE(unknown);
  CHECK(code(unknown) == errc::invalid_task);
  CHECK(b.q("SELECT count(*) FROM tasks") == 0);
  CHECK(b.q("SELECT count(*) FROM batches") == 0);
  CHECK(b.q("SELECT count(*) FROM task_deps") == 0);
  // The store works on after a refusal.
  submit(b, "ok", {{"a", "echo"}});
  CHECK(runnable(b).size() == 1);
}

TEST_CASE_TEMPLATE("both stores: an upload seals into one batch, a repeat across chunks is named and stores nothing",
                   B, BACKENDS) {
  B b;
  auto chunk = [](int from, int n) {
    std::vector<task> out;
    for (int i = from; i < from + n; ++i) {
      task t{"t" + std::to_string(i), "echo", fmt::format("{{\"i\":{}}}", i), i % 3};
      if (i % 4 == 0)
        t.policy.max_retries = 7;
      if (i == 5)
        t.after = {"t12"}; // a task of a later chunk
      out.push_back(t);
    }
    return out;
  };
  REQUIRE_FALSE(in_transaction(*b.store, [&] { return b.store->open_upload("up", 1000); }));
  auto staged = in_transaction(*b.store, [&] { return b.store->stage_chunk("up", encode_upload_chunk(chunk(0, 10))); });
  REQUIRE(staged);
  CHECK(*staged == 10);
  staged = in_transaction(*b.store, [&] { return b.store->stage_chunk("up", encode_upload_chunk(chunk(10, 5))); });
  REQUIRE(staged);
  CHECK(*staged == 15);
  auto sealed = in_transaction(*b.store, [&] { return b.store->seal_upload("up", "big", 2000); });
  REQUIRE_MESSAGE(sealed, error_text(sealed.error()));
  CHECK(*sealed == 15);
  CHECK(b.q("SELECT count(*) FROM tasks WHERE batch_id = 'big'") == 15);
  CHECK(b.q("SELECT count(*) FROM task_policies") == 4);
  CHECK(b.q("SELECT count(*) FROM task_deps") == 1);
  CHECK(b.q("SELECT count(*) FROM tasks WHERE task_id = 't5' AND state = 'blocked'") == 1);
  CHECK(b.q("SELECT count(*) FROM uploads") == 0);
  CHECK(b.q("SELECT count(*) FROM upload_parts") == 0);
  CHECK(b.q("SELECT max(seq) - min(seq) FROM tasks WHERE batch_id = 'big'") == 14);
  // t3 again in the second chunk, at position 10 + 2.
  REQUIRE_FALSE(in_transaction(*b.store, [&] { return b.store->open_upload("dup", 1000); }));
  REQUIRE(in_transaction(*b.store, [&] { return b.store->stage_chunk("dup", encode_upload_chunk(chunk(0, 10))); }));
  auto again = chunk(20, 5);
  again[2].id = "t3";
  REQUIRE(in_transaction(*b.store, [&] { return b.store->stage_chunk("dup", encode_upload_chunk(again)); }));
  auto refused = in_transaction(*b.store, [&] { return b.store->seal_upload("dup", "dupbatch", 2000); });
  REQUIRE_FALSE(refused);
  CHECK(code(refused.error()) == errc::duplicate_task_id);
  CHECK(error_text(refused.error()).find("12") != std::string::npos);
  CHECK(b.q("SELECT count(*) FROM batches WHERE id = 'dupbatch'") == 0);
  CHECK(b.q("SELECT count(*) FROM tasks") == 15);
  auto size = b.store->upload_size("dup");
  REQUIRE(size);
  CHECK(*size == 15); // still staged: the client may discard it
  auto expired = in_transaction(*b.store, [&] { return b.store->expire_uploads(1001); });
  REQUIRE(expired);
  CHECK(*expired == 1);
  CHECK(b.q("SELECT count(*) FROM upload_parts") == 0);
}

TEST_CASE_TEMPLATE("both stores: cancel, pause and resume", B, BACKENDS) {
  B b;
  task delayed{"delayed", "echo"};
  delayed.run_at = 90000;
  submit(b, "b1", {{"run", "sleep"}, {"wait", "echo"}, delayed, {"keep", "echo"}});
  auto next = runnable(b);
  write(b, {started(named(next, "run"), 1, 2000)});
  auto one = in_transaction(*b.store, [&] { return b.store->cancel_tasks("b1", {"delayed", "run"}, 2500); });
  REQUIRE(one);
  CHECK(one->waiting == 1); // "run" runs: the caller ends its attempt
  CHECK(b.q("SELECT scheduled FROM batches") == 0);
  auto unfinished = b.store->queues_with_unfinished_tasks(); // "run" (running), "wait" and "keep"
  REQUIRE(unfinished);
  CHECK(*unfinished == std::vector<std::string>{default_queue});
  auto paused = in_transaction(*b.store, [&] { return b.store->set_batch_paused("b1", true, 2600); });
  REQUIRE(paused);
  CHECK(*paused);
  CHECK(runnable(b).empty());
  auto again = in_transaction(*b.store, [&] { return b.store->set_batch_paused("b1", true, 2600); });
  REQUIRE(again);
  CHECK_FALSE(*again);
  REQUIRE(in_transaction(*b.store, [&] { return b.store->set_batch_paused("b1", false, 2700); }));
  CHECK(runnable(b).size() == 2);
  auto fleet = in_transaction(*b.store, [&] { return b.store->set_fleet_paused(true, 2800); });
  REQUIRE(fleet);
  CHECK(*fleet);
  auto is_paused = b.store->fleet_paused();
  REQUIRE(is_paused);
  CHECK(*is_paused);
  REQUIRE(in_transaction(*b.store, [&] { return b.store->set_fleet_paused(false, 2900); }));
  auto cancelled = in_transaction(*b.store, [&] { return b.store->cancel_batch("b1", 3000); });
  REQUIRE(cancelled);
  REQUIRE(cancelled->has_value());
  CHECK((*cancelled)->waiting == 2);
  CHECK_FALSE((*cancelled)->finished);
  write(b, {ended(named(next, "run"), 1, 3100, task_disposition::cancelled)});
  auto st = b.store->status("b1");
  REQUIRE(st);
  CHECK(st->status == batch_state::cancelled);
  CHECK(st->finished_at == 3100);
  unfinished = b.store->queues_with_unfinished_tasks();
  REQUIRE(unfinished);
  CHECK(unfinished->empty());
  auto twice = in_transaction(*b.store, [&] { return b.store->cancel_batch("b1", 3200); });
  REQUIRE(twice);
  CHECK_FALSE(twice->has_value());
  auto unknown = in_transaction(*b.store, [&] { return b.store->cancel_batch("nope", 3200); });
  REQUIRE(unknown);
  CHECK_FALSE(unknown->has_value());
  auto finished_pause = in_transaction(*b.store, [&] { return b.store->set_batch_paused("b1", true, 3300); });
  REQUIRE_FALSE(finished_pause);
  CHECK(code(finished_pause.error()) == errc::invalid_batch);
  // delayed, wait, keep, and the running attempt's end.
  CHECK(b.q("SELECT count(*) FROM events WHERE kind = 'task_cancelled'") == 4);
}

TEST_CASE_TEMPLATE("both stores: recovery requeues open attempts and fails a task lost too often", B, BACKENDS) {
  B b;
  submit(b, "b1", {{"a", "echo"}, {"b", "echo"}, {"c", "echo"}});
  auto next = runnable(b);
  const auto &a = named(next, "a"), &bb = named(next, "b"), &c = named(next, "c");
  write(b, {started(a, 1, 2000), started(bb, 1, 2000)});
  b.reopen(); // as after a crash
  auto first = in_transaction(*b.store, [&] { return b.store->recover_interrupted(5000, 2, {}, {}); });
  REQUIRE(first);
  CHECK(first->requeued == 2);
  CHECK(first->failed.empty());
  CHECK(b.q("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'") == 2);
  // c's start reached only the journal.
  write(b, {started(a, 2, 6000)});
  std::vector<start_journal::entry> journal{{c.seq, 1, 1, 5900}};
  auto second = in_transaction(*b.store, [&] { return b.store->recover_interrupted(7000, 2, journal, {}); });
  REQUIRE(second);
  CHECK(second->unrecorded == 1);
  REQUIRE(second->failed.size() == 1); // a: lost twice
  CHECK(second->failed[0].task_id == "a");
  CHECK(b.q("SELECT count(*) FROM attempts WHERE worker_id = 'unrecorded'") == 1);
  CHECK(b.q("SELECT count(*) FROM tasks WHERE task_id = 'a' AND state = 'failed' AND orphaned_attempts = 2") == 1);
  CHECK(b.q("SELECT count(*) FROM tasks WHERE state = 'pending'") == 2);
}

TEST_CASE_TEMPLATE("both stores: settings, queues, schedules and fleetd's runs round-trip", B, BACKENDS) {
  B b;
  config_update update;
  update.max_concurrent_workers = 12;
  update.retry_failed_tasks = false;
  update.backoff_factor = 1.5;
  auto saved = in_transaction(*b.store, [&] { return b.store->save_config_overrides(update, 1000, true); });
  REQUIRE_MESSAGE(!saved, error_text(saved));
  auto loaded = b.store->load_config_overrides();
  REQUIRE(loaded);
  CHECK(loaded->max_concurrent_workers == update.max_concurrent_workers);
  CHECK(loaded->retry_failed_tasks == update.retry_failed_tasks);
  CHECK(loaded->backoff_factor == update.backoff_factor);
  queue_change change;
  change.max_workers = 3;
  change.weight = 2;
  REQUIRE_FALSE(in_transaction(*b.store, [&] { return b.store->set_queue("mail", change, queue_limits{}, 1000); }));
  queue_change more;
  more.paused = 1;
  REQUIRE_FALSE(in_transaction(*b.store, [&] { return b.store->set_queue("mail", more, queue_limits{}, 1100); }));
  auto queues = b.store->stored_queues();
  REQUIRE(queues);
  REQUIRE(queues->count("mail") == 1);
  CHECK(queues->at("mail").max_workers == 3);
  CHECK(queues->at("mail").weight == 2);
  CHECK(queues->at("mail").paused == 1);
  schedule_row row;
  row.name = "nightly";
  row.cron = "0 3 * * *";
  row.tasks_json = "[{\"id\":\"x\",\"type\":\"echo\"}]";
  row.missed = "skip";
  row.overlap = 1;
  row.source = "runtime";
  row.created_at = row.updated_at = row.handled_until = 1000;
  REQUIRE_FALSE(in_transaction(*b.store, [&] { return b.store->save_schedule(row); }));
  row.fired = 4;
  row.last_batch_id = "b9";
  REQUIRE_FALSE(in_transaction(*b.store, [&] { return b.store->save_schedule(row); }));
  auto read = b.store->schedule("nightly");
  REQUIRE(read);
  REQUIRE(read->has_value());
  CHECK((*read)->fired == 4);
  CHECK((*read)->last_batch_id == "b9");
  CHECK((*read)->every_ms == 0);
  auto deleted = in_transaction(*b.store, [&] { return b.store->delete_schedule("nightly"); });
  REQUIRE(deleted);
  CHECK(*deleted);
  auto run = in_transaction(*b.store, [&] { return b.store->record_run_start(1000, 42, "1.0", "{}"); });
  REQUIRE(run);
  auto next_run = in_transaction(*b.store, [&] { return b.store->record_run_start(2000, 43, "1.0", "{}"); });
  REQUIRE(next_run);
  CHECK(b.q("SELECT count(*) FROM fleetd_runs WHERE found_dead_at = 2000") == 1);
  REQUIRE_FALSE(in_transaction(*b.store, [&] { return b.store->record_run_stop(*next_run, 3000, 0, 0); }));
  CHECK(b.q("SELECT count(*) FROM events WHERE kind = 'fleetd_stopped'") == 2);
}

TEST_CASE_TEMPLATE("both stores: clock steps move waiting retries, retention prunes in slices", B, BACKENDS) {
  B b;
  std::vector<task> tasks;
  for (int i = 0; i < 5; ++i)
    tasks.push_back({"t" + std::to_string(i), "echo"});
  submit(b, "old", tasks);
  submit(b, "young", {{"r", "fail"}});
  auto next = runnable(b);
  std::vector<transition> group;
  for (const auto& t : next) {
    group.push_back(started(t, 1, 2000));
    group.push_back(ended(t, 1, 2100, t.batch_id == "old" ? task_disposition::succeeded : task_disposition::retry));
  }
  write(b, group);
  auto moved = in_transaction(*b.store, [&] { return b.store->record_clock_step(2200, 10000, 1500); });
  REQUIRE(moved);
  CHECK(*moved == 1);
  CHECK(b.q("SELECT not_before FROM tasks WHERE task_id = 'r'") == 2600 + 10000);
  auto pulled = in_transaction(*b.store, [&] { return b.store->pull_in_future_retries(3000, 1000); });
  REQUIRE(pulled);
  CHECK(*pulled == 1);
  CHECK(b.q("SELECT not_before FROM tasks WHERE task_id = 'r'") == 4000);
  fleet_store::retention_policy policy;
  policy.retain_finished_ms = 1000;
  auto step = in_transaction(*b.store, [&] { return b.store->prune_step(10000, policy, 3); });
  REQUIRE(step);
  CHECK(step->tasks == 3);
  CHECK(step->batches == 0);
  step = in_transaction(*b.store, [&] { return b.store->prune_step(10000, policy, 3); });
  REQUIRE(step);
  CHECK(step->tasks == 2);
  CHECK(step->batches == 1);
  CHECK(b.q("SELECT count(*) FROM batches") == 1);
  CHECK(b.q("SELECT count(*) FROM attempts") == 1);
  CHECK(b.q("SELECT count(*) FROM events WHERE kind = 'batch_pruned'") == 1);
  auto events_before = b.q("SELECT count(*) FROM events");
  fleet_store::retention_policy events;
  events.retain_events_ms = 1000;
  auto pruned = in_transaction(*b.store, [&] { return b.store->prune_step(9000, events, 100); });
  REQUIRE(pruned);
  CHECK(pruned->events > 0);
  CHECK(b.q("SELECT count(*) FROM events") == events_before - pruned->events);
  CHECK(b.q("SELECT count(*) FROM events WHERE at < 8000") == 0);
}

TEST_CASE_TEMPLATE("both stores: a failed write rolls back whole, and the store goes on", B, BACKENDS) {
  B b;
  submit(b, "b1", {{"a", "echo"}});
  {
    auto tx = b.store->transaction();
    REQUIRE_FALSE(tx.begin());
    REQUIRE_FALSE(b.store->insert_batch("b2", {{"x", "echo"}}, 1000));
    // The same batch id again: refused by the database.
    CHECK(b.store->insert_batch("b1", {{"y", "echo"}}, 1000));
  } // rolled back
  CHECK(b.q("SELECT count(*) FROM batches") == 1);
  CHECK(b.q("SELECT count(*) FROM tasks") == 1);
  submit(b, "b3", {{"z", "echo"}});
  CHECK(runnable(b).size() == 2);
  CHECK(b.q("SELECT tasks FROM fleet_totals") == 2);
}

TEST_CASE_TEMPLATE("both stores: the batch page reads tasks, attempts and dependencies alike, a page at a time", B,
                   BACKENDS) {
  B b;
  task second{"second", "echo", "{}", 0};
  second.after = {"first", "side"};
  submit(b, "b1", {{"first", "echo", "{}", 2}, {"side", "fail", "{}", 1}, second});
  submit(b, "b2", {{"other", "echo"}});
  auto next = runnable(b);
  const auto &first = named(next, "first"), &side = named(next, "side");
  write(b, {started(first, 1, 2000, "node-a"), ended(first, 1, 3000, task_disposition::succeeded),
            started(side, 1, 2000), ended(side, 1, 2500, task_disposition::retry), started(side, 2, 3100)});
  auto page = b.task_page("b1", 0, 2);
  REQUIRE_MESSAGE(page, error_text(page.error()));
  REQUIRE(page->tasks.size() == 2);
  CHECK_FALSE(page->done);
  const auto& f = page->tasks[0];
  CHECK(f.task_id == "first");
  CHECK(f.type == "echo");
  CHECK(f.priority == 2);
  CHECK(f.state == "succeeded");
  CHECK(f.attempts == 1);
  CHECK(f.duration_ms == 100);
  CHECK(f.result == "{\"from\":\"first\"}");
  CHECK(f.after_json == "[]");
  REQUIRE(f.attempt_rows.size() == 1);
  CHECK(f.attempt_rows[0].node == "node-a");
  CHECK(f.attempt_rows[0].outcome == "succeeded");
  CHECK(f.attempt_rows[0].finished_at == 3000);
  const auto& sd = page->tasks[1];
  CHECK(sd.state == "running");
  CHECK(sd.duration_ms == -1);
  CHECK(sd.error == "boom side");
  REQUIRE(sd.attempt_rows.size() == 2);
  CHECK(sd.attempt_rows[0].outcome == "failed");
  CHECK(sd.attempt_rows[0].error == "boom side");
  CHECK(sd.attempt_rows[1].node == "local");
  CHECK(sd.attempt_rows[1].finished_at == 0);
  CHECK(sd.attempt_rows[1].outcome.empty());
  auto rest = b.task_page("b1", page->next_cursor, 2);
  REQUIRE(rest);
  REQUIRE(rest->tasks.size() == 1);
  CHECK(rest->done);
  CHECK(rest->tasks[0].task_id == "second");
  CHECK(rest->tasks[0].state == "blocked");
  CHECK(rest->tasks[0].after_json == "[\"first\",\"side\"]");
  CHECK(rest->tasks[0].progress < 0);
  // Past the end, and a batch that does not exist.
  auto past = b.task_page("b1", rest->next_cursor, 2);
  REQUIRE(past);
  CHECK(past->tasks.empty());
  CHECK(past->done);
  auto unknown = b.task_page("nope", 0, 10);
  REQUIRE_FALSE(unknown);
  CHECK(code(unknown.error()) == errc::unknown_batch);
}

TEST_CASE_TEMPLATE("both stores: a batch's archive holds its rows in order, JSON texts as stored, and is written once",
                   B, BACKENDS) {
  B b;
  task first{"first", "echo", "{\"x\": [1, 2]}", 0};
  first.policy.max_retries = 2;
  task second{"second", "fail", "{}", 0};
  second.after = {"first"};
  submit(b, "b1", {first, second, {"third", "echo", "{}", 0}});
  submit(b, "b2", {{"other", "echo"}});
  auto next = runnable(b);
  const auto &f = named(next, "first"), &t = named(next, "third");
  write(b, {started(f, 1, 2000), ended(f, 1, 2500, task_disposition::retry), started(t, 1, 2000),
            ended(t, 1, 2100, task_disposition::succeeded)});
  REQUIRE(in_transaction(*b.store, [&] { return b.store->promote_due(3000, 100); }));
  auto again = named(runnable(b), "first");
  write(b, {started(again, 2, 3000), ended(again, 2, 3100, task_disposition::succeeded)});
  auto s2 = named(runnable(b), "second");
  write(b, {started(s2, 1, 3200), ended(s2, 1, 3300, task_disposition::failed)});
  auto st = b.store->status("b1");
  REQUIRE(st);
  REQUIRE(st->finished_at == 3300);
  temp_dir dir;
  auto written = b.archive(dir.path().string(), "b1", 3300);
  REQUIRE_MESSAGE(written, error_text(written.error()));
  CHECK_FALSE(written->existed);
  CHECK(written->tasks == 3);
  CHECK(written->bytes > 0);
  CHECK(written->path == dir.file("b1-3300.jsonl.gz"));
  std::vector<std::string> kinds;
  std::vector<nlohmann::json> rows;
  for (const auto& line : gunzip_lines(written->path)) {
    auto j = nlohmann::json::parse(line);
    REQUIRE(j.size() == 1);
    kinds.push_back(j.begin().key());
    rows.push_back(j.begin().value());
  }
  std::vector<std::string> expected_kinds{"batch", "task", "task", "task", "task_policy", "task_dep",
                                          "attempt", "attempt", "attempt", "attempt"};
  REQUIRE(kinds.size() > expected_kinds.size());
  CHECK(std::vector<std::string>(kinds.begin(), kinds.begin() + 10) == expected_kinds);
  for (size_t i = 10; i < kinds.size(); ++i)
    CHECK(kinds[i] == "event");
  CHECK(rows[0]["id"] == "b1");
  CHECK(rows[0]["succeeded"] == 2);
  CHECK(rows[0]["failed"] == 1);
  CHECK(rows[0]["finished_at"] == 3300);
  CHECK(rows[1]["task_id"] == "first");
  CHECK(rows[1]["data"] == "{\"x\": [1, 2]}"); // the text as submitted, not parsed
  CHECK(rows[1]["result"] == "{\"from\":\"first\"}");
  CHECK(rows[1]["attempts"] == 2);
  CHECK(rows[3]["task_id"] == "third");
  CHECK(rows[4]["max_retries"] == 2);
  CHECK(rows[4]["timeout_ms"].is_null());
  CHECK(rows[6]["outcome"] == "failed");
  CHECK(rows[6]["error"] == "boom first");
  CHECK(rows[7]["outcome"] == "succeeded");
  for (size_t i = 10; i < rows.size(); ++i) {
    CHECK(rows[i]["batch_id"] == "b1");
    CHECK((rows[i]["detail"].is_null() || rows[i]["detail"].is_string()));
  }
  // The other batch is in no line; a second pass keeps the file as it is.
  for (const auto& r : rows)
    CHECK(r.dump().find("other") == std::string::npos);
  auto again_written = b.archive(dir.path().string(), "b1", 3300);
  REQUIRE(again_written);
  CHECK(again_written->existed);
  CHECK(again_written->bytes == written->bytes);
  // A batch that is not stored: an error, and no file, not even a temporary one.
  auto unknown = b.archive(dir.path().string(), "nope", 1);
  REQUIRE_FALSE(unknown);
  CHECK(code(unknown.error()) == errc::unknown_batch);
  CHECK(std::distance(std::filesystem::directory_iterator{dir.path()}, {}) == 1);
}
