#include "fleet_fixture.hpp"

#include <algorithm>
#include <set>

using namespace fleet;
using namespace fleet::test;

TEST_CASE("a batch of echo tasks completes and lists every result in submission order") {
  fleet_fixture f;
  f.start();
  auto id = f.submit_ok(echo_tasks(5));
  CHECK(id.rfind("batch-", 0) == 0);
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto st = f.status_of(id);
  CHECK(st.status == batch_state::completed);
  CHECK(st.total == 5);
  CHECK(st.completed == 5);
  CHECK(st.failed == 0);
  CHECK(st.progress == doctest::Approx(1.0));
  auto rs = f.results_of(id);
  REQUIRE(rs.size() == 5);
  for (size_t i = 0; i < rs.size(); ++i) {
    CHECK(rs[i].task_id == "t" + std::to_string(i));
    CHECK(rs[i].success);
    CHECK(rs[i].result == "{\"n\":" + std::to_string(i) + "}");
    CHECK(rs[i].attempts == 1);
  }
}

TEST_CASE("submit_batch returns once the batch is stored, before it runs") {
  fleet_fixture f;
  f.start();
  auto id = f.submit_ok({make_task("a", "sleep", R"({"ms": 500})")});
  auto st = f.status_of(id);
  CHECK(st.status == batch_state::processing);
  CHECK(st.progress == doctest::Approx(0.0));
  CHECK(f.query_int("SELECT count(*) FROM tasks") == 1);
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  CHECK(f.status_of(id).status == batch_state::completed);
}

TEST_CASE("a batch waiting for workers is pending") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_concurrent_workers = 1;
  fleet_fixture f{cfg};
  f.start();
  auto busy = f.submit_ok({make_task("a", "sleep", R"({"ms": 1000})")});
  auto waiting = f.submit_ok({make_task("b", "echo")});
  CHECK(f.status_of(busy).status == batch_state::processing);
  CHECK(f.status_of(waiting).status == batch_state::pending);
  REQUIRE(f.advance_until([&] { return f.finished(waiting); }));
}

TEST_CASE("invalid batches are refused with a clear error and nothing is stored") {
  fleet_fixture f;
  f.start();
  struct bad_case {
    const char* name;
    std::vector<task> tasks;
    errc code;
    const char* text;
  };
  std::vector<bad_case> cases{
    {"empty", {}, errc::invalid_batch, "batch is empty"},
    {"duplicate id", {make_task("a", "echo"), make_task("a", "echo")}, errc::duplicate_task_id,
     "duplicate task id"},
    {"empty type", {make_task("a", "")}, errc::invalid_task, "type is empty"},
    {"unknown type", {make_task("a", "resize")}, errc::unknown_task_type, "unknown task type \"resize\""},
    {"bad json", {make_task("a", "echo", "{nope")}, errc::invalid_task, "not valid JSON"},
    {"bad sleep data", {make_task("a", "sleep", R"({"ms": "soon"})")}, errc::invalid_task, "sleep needs"},
    {"bad exec data", {make_task("a", "exec", R"({"argv": []})")}, errc::invalid_task, "exec needs"},
    {"oversize", {make_task("a", "echo", "\"" + std::string(2 << 20, 'x') + "\"")},
     errc::oversize_data, "more than the limit"},
  };
  for (auto& c : cases) {
    CAPTURE(c.name);
    auto id = f.ask<std::string>(submit_atom::value, c.tasks);
    REQUIRE_FALSE(id);
    CHECK(id.error() == c.code);
    CHECK(error_text(id.error()).find(c.text) != std::string::npos);
  }
  CHECK(f.query_int("SELECT count(*) FROM batches") == 0);
  CHECK(f.query_int("SELECT count(*) FROM tasks") == 0);
  CHECK(f.stats().total_batches == 0);
}

TEST_CASE("unknown batch ids get a not-found error") {
  fleet_fixture f;
  f.start();
  auto st = f.ask<batch_status>(status_atom::value, std::string{"batch-nope"});
  REQUIRE_FALSE(st);
  CHECK(st.error() == errc::unknown_batch);
  CHECK(error_text(st.error()) == "batch batch-nope not found");
  auto rs = f.ask<std::vector<task_result>>(results_atom::value, std::string{"batch-nope"});
  REQUIRE_FALSE(rs);
  CHECK(rs.error() == errc::unknown_batch);
  auto cancelled = f.ask<bool>(cancel_atom::value, std::string{"batch-nope"});
  REQUIRE(cancelled);
  CHECK_FALSE(*cancelled);
}

namespace {

/// The task of every attempt, in the order the attempts started.
std::vector<std::string> attempt_order(fleet_fixture& f) {
  auto db = sqlite::database::open(f.db_path(), false);
  REQUIRE(db);
  // Worker ids count up within a run: their order is the order attempts started.
  auto ev = db->prepare("SELECT t.task_id FROM attempts a JOIN tasks t ON t.seq = a.task_seq"
                        " ORDER BY length(a.worker_id), a.worker_id");
  REQUIRE(ev);
  std::vector<std::string> order;
  while (*ev->step())
    order.push_back(ev->column_text(0));
  return order;
}

} // namespace

TEST_CASE("tasks run by priority across batches, FIFO within a priority") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_concurrent_workers = 1;
  fleet_fixture f{cfg};
  f.start();
  // Keeps the only worker busy while the rest is queued.
  auto blocker = f.submit_ok({make_task("blocker", "sleep", R"({"ms": 100})", 100)});
  auto low = f.submit_ok({make_task("low-1", "echo", "{}", 1), make_task("low-2", "echo", "{}", 1),
                          make_task("mid-1", "echo", "{}", 5)});
  auto high = f.submit_ok({make_task("high-1", "echo", "{}", 9), make_task("mid-2", "echo", "{}", 5)});
  REQUIRE(f.advance_until([&] { return f.finished(low) && f.finished(high); }));
  auto order = attempt_order(f);
  std::vector<std::string> expected{"blocker", "high-1", "mid-1", "mid-2", "low-1", "low-2"};
  CHECK(order == expected);
  (void) blocker;
}

TEST_CASE("tasks that become runnable ahead of where the manager reads run in their turn") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_concurrent_workers = 1;
  fleet_fixture f{cfg};
  f.start();
  // 300 tasks of 10 ms: the manager reads them a window at a time, each read going on from the
  // last. A retry (due after 100 ms) and a later batch of higher priority belong ahead of it.
  std::vector<task> tasks{make_task("flaky", "fail", R"({"times": 1})", 5)};
  auto sleepers = sleep_tasks(300, 10);
  for (auto& t : sleepers)
    t.priority = 1;
  tasks.insert(tasks.end(), sleepers.begin(), sleepers.end());
  auto big = f.submit_ok(tasks);
  REQUIRE(f.advance_until([&] {
    return f.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded'") >= 150;
  }));
  auto urgent = f.submit_ok({make_task("urgent", "echo", "{}", 9)});
  REQUIRE(f.advance_until([&] { return f.finished(big) && f.finished(urgent); }));
  auto order = attempt_order(f);
  REQUIRE(order.size() == 303);
  auto position = [&](const std::string& id, int nth = 1) {
    for (size_t i = 0; i < order.size(); ++i)
      if (order[i] == id && --nth == 0)
        return i;
    return order.size();
  };
  CHECK(position("flaky") == 0);
  // Due 100 ms after its failure: it runs about ten sleepers later, not after all 300.
  CHECK(position("flaky", 2) < 20);
  auto urgent_at = position("urgent");
  CHECK(urgent_at >= 150);
  CHECK(urgent_at < 160); // right after the attempt that was running when it arrived
  CHECK(f.status_of(big).status == batch_state::completed);
}

TEST_CASE("never more than max_concurrent_workers workers at once") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_concurrent_workers = 3;
  fleet_fixture f{cfg};
  f.start();
  std::vector<task> tasks;
  for (int i = 0; i < 20; ++i)
    tasks.push_back(make_task("s" + std::to_string(i), "sleep", "{\"ms\": " + std::to_string(10 + i % 7 * 10) + "}"));
  auto id = f.submit_ok(tasks);
  size_t peak = 0;
  REQUIRE(f.advance_until([&] {
    auto st = f.stats();
    peak = std::max(peak, static_cast<size_t>(st.active_workers));
    CHECK(st.active_workers <= 3);
    CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'running'") <= 3);
    return f.finished(id);
  }, 60'000, 5));
  CHECK(peak == 3);
  CHECK(f.status_of(id).completed == 20);
}

TEST_CASE("stats counts batches, tasks, outcomes and active workers") {
  auto cfg = fleet_fixture::small_config();
  cfg.retry_failed_tasks = false;
  fleet_fixture f{cfg};
  f.start();
  auto a = f.submit_ok(echo_tasks(3));
  auto b = f.submit_ok({make_task("ok", "echo"), make_task("bad", "fail")});
  REQUIRE(f.advance_until([&] { return f.finished(a) && f.finished(b); }));
  auto st = f.stats();
  CHECK(st.total_batches == 2);
  CHECK(st.total_tasks == 5);
  CHECK(st.completed_tasks == 4);
  CHECK(st.failed_tasks == 1);
  CHECK(st.pending_tasks == 0);
  CHECK(st.active_workers == 0);
  CHECK(st.max_concurrent_workers == 2);
  CHECK(f.status_of(b).status == batch_state::partial);
}

TEST_CASE("active_workers shows spawning, active, then completed and failed workers") {
  auto cfg = fleet_fixture::small_config();
  cfg.retry_failed_tasks = false;
  fleet_fixture f{cfg};
  // Starts are committed 50 ms after they happen: until then their workers are spawning.
  f.set_commit_delay(50);
  f.start();
  auto id = f.submit_ok({make_task("slow", "sleep", R"({"ms": 1000})"), make_task("bad", "fail")});
  auto ws = f.ask<std::vector<worker_info>>(workers_atom::value);
  REQUIRE(ws);
  auto find = [&](const std::string& task_id) {
    return std::find_if(ws->begin(), ws->end(), [&](auto& w) { return w.task_id == task_id; });
  };
  REQUIRE(find("slow") != ws->end());
  CHECK(find("slow")->status == worker_status::spawning);
  CHECK(find("slow")->completed_at == 0);
  f.advance(50);
  ws = f.ask<std::vector<worker_info>>(workers_atom::value);
  REQUIRE(ws);
  REQUIRE(find("slow") != ws->end());
  CHECK(find("slow")->status == worker_status::active);
  CHECK(find("slow")->completed_at == 0);
  CHECK(find("slow")->worker_id.rfind("worker-", 0) == 0);
  REQUIRE(find("bad") != ws->end());
  CHECK(find("bad")->status == worker_status::failed);
  CHECK(find("bad")->completed_at >= find("bad")->spawned_at);
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  ws = f.ask<std::vector<worker_info>>(workers_atom::value);
  REQUIRE(ws);
  CHECK(find("slow")->status == worker_status::completed);
  CHECK(find("slow")->completed_at - find("slow")->spawned_at >= 1000);
}

TEST_CASE("the coordinator aggregates finished results") {
  auto cfg = fleet_fixture::small_config();
  cfg.retry_failed_tasks = false;
  fleet_fixture f{cfg};
  f.start();
  auto id = f.submit_ok({make_task("a", "sleep", R"({"ms": 100})"), make_task("b", "sleep", R"({"ms": 300})"),
                         make_task("c", "fail")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto coord = f.ask<coordinator_actor>(coordinator_atom::value);
  REQUIRE(coord);
  caf::scoped_actor self{f.sys()};
  std::optional<result_summary> summary;
  auto rh = self->request(*coord, caf::infinite, summary_atom::value);
  f.run();
  rh.receive([&](result_summary& s) { summary = s; }, [&](caf::error& err) { FAIL(error_text(err)); });
  REQUIRE(summary);
  CHECK(summary->total_results == 3);
  CHECK(summary->success_count == 2);
  CHECK(summary->failure_count == 1);
  CHECK(summary->success_rate == doctest::Approx(2.0 / 3.0));
  CHECK(summary->average_duration_ms >= 100.0);
}

TEST_CASE("every state change lands in the attempts table or the append-only event log") {
  fleet_fixture f;
  f.start();
  auto id = f.submit_ok(echo_tasks(2));
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'batch_submitted'") == 1);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'succeeded'"
                    " AND started_at IS NOT NULL AND finished_at IS NOT NULL AND worker_id != ''") == 2);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'batch_finished'") == 1);
  auto db = sqlite::database::open(f.db_path(), false);
  REQUIRE(db);
  auto err = db->exec("DELETE FROM events");
  REQUIRE(err);
  // The trigger lets only fleetd's pruner through, by a function only fleetd's connection has.
  CHECK(error_text(err).find("fleet_pruning") != std::string::npos);
  auto update = db->exec("UPDATE events SET kind = 'forged'");
  REQUIRE(update);
  CHECK(error_text(update).find("append-only") != std::string::npos);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'forged'") == 0);
}

TEST_CASE("with a commit delay, groups grow but no task starts twice and replies wait for commits") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_concurrent_workers = 4;
  fleet_fixture f{cfg};
  f.set_commit_delay(5);
  f.start();
  // More tasks than a refill window: refills happen while starts are still uncommitted.
  auto id = f.submit_ok(echo_tasks(500));
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 60'000, 1));
  CHECK(f.status_of(id).completed == 500);
  CHECK(f.query_int("SELECT count(*) FROM attempts") == 500);
  CHECK(f.query_int("SELECT max(attempts) FROM tasks") == 1);
  CHECK(f.results_of(id).size() == 500);
}

TEST_CASE("results are paged by cursor, and too big a batch is refused unpaged") {
  fleet_fixture f;
  f.set_max_unpaged_results(5);
  f.start();
  auto id = f.submit_ok(echo_tasks(8));
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto whole = f.ask<std::vector<task_result>>(results_atom::value, id);
  REQUIRE_FALSE(whole);
  CHECK(whole.error() == errc::invalid_batch);
  CHECK(error_text(whole.error()).find("has 8 results") != std::string::npos);
  std::vector<std::string> ids;
  int64_t cursor = 0;
  for (int pages = 1;; ++pages) {
    auto page = f.ask<results_page>(results_atom::value, id, cursor, int32_t{3});
    REQUIRE(page);
    for (auto& r : page->items)
      ids.push_back(r.task_id);
    cursor = page->next_cursor;
    if (page->done) {
      CHECK(pages == 3);
      break;
    }
  }
  CHECK(ids == std::vector<std::string>{"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"});
  auto bad = f.ask<results_page>(results_atom::value, id, int64_t{0}, int32_t{0});
  REQUIRE_FALSE(bad);
  CHECK(error_text(bad.error()) == "a results page holds 1 to 10000 tasks (got 0)");
  auto unknown = f.ask<results_page>(results_atom::value, std::string{"nope"}, int64_t{0}, int32_t{10});
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error() == errc::unknown_batch);
}

TEST_CASE("a submit whose tasks a read met before its commit was taken in starts each task once") {
  fleet_fixture f; // two workers
  f.start();
  auto paused = f.ask<bool>(pause_atom::value, std::string{});
  REQUIRE(paused);
  REQUIRE(*paused);
  // Older tasks, which the next dispatch starts first.
  auto older = f.submit_ok({make_task("a0", "echo"), make_task("a1", "echo")});
  // Both commit at once (the inline writer) before the manager takes their continuations, in
  // order: the resume's reads the window from the top and meets the new tasks already stored;
  // the submit's then offers the same tasks to the window. None may enter it twice.
  auto resume = f.request(resume_atom::value, std::string{});
  std::vector<task> fresh;
  for (int i = 0; i < 4; ++i)
    fresh.push_back(make_task("e" + std::to_string(i), "echo"));
  auto submit = f.request(submit_atom::value, std::move(fresh));
  f.run();
  std::string batch;
  resume.receive([](bool changed) { CHECK(changed); }, [&](caf::error& err) { FAIL(error_text(err)); });
  submit.receive([&](std::string& id) { batch = id; }, [&](caf::error& err) { FAIL(error_text(err)); });
  REQUIRE(f.advance_until([&] { return f.finished(batch) && f.finished(older); }));
  CHECK(f.query_int("SELECT count(*) FROM attempts") == 6);
  CHECK(f.query_int("SELECT max(attempt) FROM attempts") == 1);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded' AND attempts = 1") == 6);
}
