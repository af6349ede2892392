// Dependencies inside a batch ("after"): order, results passed on, skips, replay, cancel, restart.
#include "fleet_fixture.hpp"
#include "temp_dir.hpp"

#include "fleetd/error.hpp"

#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include <map>

using namespace fleet;
using namespace fleet::test;
using json = nlohmann::json;

namespace {

task after(task t, std::vector<std::string> ids) {
  t.after = std::move(ids);
  return t;
}

/// A task that fails its first attempt and is not retried: it stays failed until replayed.
task fails_once(std::string id) {
  auto t = make_task(std::move(id), "fail", R"({"times": 1})");
  t.policy.max_retries = 0;
  return t;
}

/// A worker whose result is what it was given of its dependencies.
worker_actor::behavior_type deps_worker(worker_actor::pointer self) {
  return {
    [self](execute_atom, const task& t, int32_t) -> caf::result<task_outcome> {
      self->quit();
      return success(t.deps.empty() ? "{\"none\": true}" : t.deps);
    },
  };
}

void add_deps_worker(fleet_fixture& f) {
  f.registry().add("deps", [](caf::actor_system& sys) { return sys.spawn(deps_worker); });
}

std::map<std::string, task_result> by_id(const std::vector<task_result>& rs) {
  std::map<std::string, task_result> out;
  for (const auto& r : rs)
    out[r.task_id] = r;
  return out;
}

int64_t started_at(fleet_fixture& f, const std::string& task_id) {
  return f.query_int("SELECT min(a.started_at) FROM attempts a JOIN tasks t ON t.seq = a.task_seq WHERE t.task_id = '"
                     + task_id + "'");
}

int64_t finished_at(fleet_fixture& f, const std::string& task_id) {
  return f.query_int("SELECT max(a.finished_at) FROM attempts a JOIN tasks t ON t.seq = a.task_seq WHERE t.task_id = '"
                     + task_id + "'");
}

} // namespace

TEST_CASE("a task waits blocked for its dependencies and its attempt gets their results") {
  fleet_fixture f;
  add_deps_worker(f);
  f.start();
  auto id = f.submit_ok({make_task("slow", "sleep", R"({"ms": 500})"), make_task("quick", "echo", R"({"n": 2})"),
                         after(make_task("join", "deps"), {"slow", "quick"}), make_task("free", "deps")});
  f.advance(100);
  auto st = f.status_of(id);
  CHECK(st.blocked == 1);
  CHECK(f.query_text("SELECT state FROM tasks WHERE task_id = 'join'") == "blocked");
  CHECK(f.query_int("SELECT waiting_on FROM tasks WHERE task_id = 'join'") == 1); // quick is done
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 5'000));
  auto rs = by_id(f.results_of(id));
  REQUIRE(rs.size() == 4);
  CHECK(f.status_of(id).status == batch_state::completed);
  CHECK(f.status_of(id).blocked == 0);
  auto deps = json::parse(rs["join"].result);
  CHECK(deps == json::parse(R"({"slow": {"slept_ms": 500}, "quick": {"n": 2}})"));
  CHECK(json::parse(rs["free"].result) == json::parse(R"({"none": true})"));
  CHECK(started_at(f, "join") >= finished_at(f, "slow"));
  CHECK(f.query_int("SELECT dependents FROM tasks WHERE task_id = 'slow'") == 1);
  CHECK(f.query_int("SELECT dependencies FROM tasks WHERE task_id = 'join'") == 2);
  CHECK(f.query_int("SELECT count(*) FROM task_deps") == 2);
}

TEST_CASE("a task whose dependencies' results are over fleet.max-dependency-results fails at its start") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_retries = 5;
  fleet_fixture f{cfg};
  f.set_max_dependency_results(1024);
  add_deps_worker(f);
  f.start();
  // The echo worker's result is the task's data: two of 600 bytes are over the limit together,
  // one of them is within it.
  auto pad = [](char c) { return R"({"pad":")" + std::string(590, c) + R"("})"; };
  auto id = f.submit_ok({make_task("a", "echo", pad('a')), make_task("b", "echo", pad('b')),
                         after(make_task("both", "deps"), {"a", "b"}), after(make_task("one", "deps"), {"a"})});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto rs = by_id(f.results_of(id));
  CHECK_FALSE(rs["both"].success);
  // Counted as the JSON object the task would get: both results and their keys.
  auto error = rs["both"].error;
  const std::string prefix = "the results of its dependencies come to ";
  REQUIRE_MESSAGE(error.starts_with(prefix), error);
  CHECK(std::stoul(error.substr(prefix.size())) >= 2 * pad('a').size());
  CHECK_MESSAGE(error.ends_with(" bytes, over fleet.max-dependency-results (1024 bytes)"), error);
  CHECK(rs["both"].attempts == 1); // the same results again would not fit either: no retry
  REQUIRE(rs["one"].success);
  CHECK(json::parse(rs["one"].result) == json{{"a", json::parse(pad('a'))}});
  CHECK(f.status_of(id).status == batch_state::partial);
  CHECK(f.query_int("SELECT count(*) FROM attempts a JOIN tasks t ON t.seq = a.task_seq"
                    " WHERE t.task_id = 'both' AND a.outcome = 'failed' AND a.error LIKE '%max-dependency-results%'")
        == 1);
  // The queue goes on.
  auto next = f.submit_ok(echo_tasks(3));
  REQUIRE(f.advance_until([&] { return f.finished(next); }));
  CHECK(f.status_of(next).completed == 3);
}

TEST_CASE("results too big to come with a task's row are read when its attempt starts, and given whole") {
  fleet_fixture f;
  add_deps_worker(f);
  f.start();
  // Two results of 40 KB: together over max_inline_dependency_bytes.
  auto pad = [](char c) { return R"({"pad":")" + std::string(40'000, c) + R"("})"; };
  auto id = f.submit_ok({make_task("a", "echo", pad('a')), make_task("b", "echo", pad('b')),
                         after(make_task("both", "deps"), {"a", "b"})});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto rs = by_id(f.results_of(id));
  REQUIRE(rs["both"].success);
  CHECK(json::parse(rs["both"].result) == json{{"a", json::parse(pad('a'))}, {"b", json::parse(pad('b'))}});
}

TEST_CASE("a chain runs in order, one task at a time, whatever the workers") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_concurrent_workers = 4;
  fleet_fixture f{cfg};
  f.start();
  std::vector<task> chain;
  for (int i = 0; i < 6; ++i) {
    auto t = make_task("c" + std::to_string(i), "sleep", R"({"ms": 20})");
    if (i > 0)
      t.after = {"c" + std::to_string(i - 1)};
    chain.push_back(t);
  }
  // Submitted backwards: the order comes from "after", not from the file.
  std::reverse(chain.begin(), chain.end());
  auto id = f.submit_ok(chain);
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 5'000));
  CHECK(f.status_of(id).completed == 6);
  for (int i = 1; i < 6; ++i)
    CHECK(started_at(f, "c" + std::to_string(i)) >= finished_at(f, "c" + std::to_string(i - 1)));
}

TEST_CASE("a failed dependency skips every task below it, counted failed, without an attempt") {
  fleet_fixture f;
  f.start();
  auto id = f.submit_ok({fails_once("root"), after(make_task("mid", "echo"), {"root"}),
                         after(make_task("leaf", "echo"), {"mid"}), make_task("other", "echo")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 5'000));
  auto st = f.status_of(id);
  CHECK(st.status == batch_state::partial);
  CHECK(st.completed == 1);
  CHECK(st.failed == 3);
  CHECK(f.stats().failed_tasks == 3);
  auto rs = by_id(f.results_of(id));
  CHECK_FALSE(rs["mid"].success);
  CHECK(rs["mid"].error == "not run: task \"root\", which it runs after, failed");
  CHECK(rs["leaf"].error == "not run: task \"root\", which it runs after, failed");
  CHECK(rs["leaf"].attempts == 0);
  CHECK(f.query_int("SELECT count(*) FROM attempts a JOIN tasks t ON t.seq = a.task_seq"
                    " WHERE t.task_id IN ('mid', 'leaf')") == 0);
  CHECK(f.query_text("SELECT task_id || ' ' || detail FROM events WHERE kind = 'tasks_skipped'")
        == R"(root {"dependency":"failed","skipped":2})");
}

TEST_CASE("replaying a failed dependency brings back the tasks it skipped, and they run") {
  fleet_fixture f;
  add_deps_worker(f);
  f.start();
  auto id = f.submit_ok({fails_once("root"), after(make_task("mid", "deps"), {"root"}),
                         after(make_task("leaf", "deps"), {"mid"})});
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 5'000));
  REQUIRE(f.status_of(id).failed == 3);
  SUBCASE("a skipped task alone is refused while what it waits on stays failed") {
    auto refused = f.ask<int64_t>(replay_atom::value, id, std::vector<std::string>{"leaf"});
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == errc::invalid_task);
    CHECK(error_text(refused.error()).find("\"mid\"") != std::string::npos);
    CHECK(f.status_of(id).failed == 3);
  }
  SUBCASE("the failed task by name") {
    auto replayed = f.ask<int64_t>(replay_atom::value, id, std::vector<std::string>{"root"});
    REQUIRE(replayed);
    CHECK(*replayed == 3);
  }
  SUBCASE("the whole batch") {
    auto replayed = f.ask<int64_t>(replay_atom::value, id, std::vector<std::string>{});
    REQUIRE(replayed);
    CHECK(*replayed == 3);
  }
  if (f.status_of(id).failed == 3)
    return; // the refused replay
  CHECK(f.query_text("SELECT group_concat(state, ',') FROM (SELECT state FROM tasks ORDER BY seq)")
        != "failed,failed,failed");
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 5'000));
  auto st = f.status_of(id);
  CHECK(st.status == batch_state::completed);
  CHECK(st.failed == 0);
  auto rs = by_id(f.results_of(id));
  CHECK(json::parse(rs["leaf"].result).contains("mid"));
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'task_replayed'") == 3);
}

TEST_CASE("a skipped task that another failure keeps out is not replayed with the first") {
  fleet_fixture f;
  f.start();
  // join waits on both; replaying only "a" cannot make it run while "b" stays failed.
  auto b = fails_once("b");
  b.data = R"({"times": 5})";
  auto id = f.submit_ok({fails_once("a"), b, after(make_task("join", "echo"), {"a", "b"})});
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 5'000));
  REQUIRE(f.status_of(id).failed == 3);
  auto replayed = f.ask<int64_t>(replay_atom::value, id, std::vector<std::string>{"a"});
  REQUIRE(replayed);
  CHECK(*replayed == 1);
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 5'000));
  auto rs = by_id(f.results_of(id));
  CHECK(rs["a"].success);
  CHECK_FALSE(rs["join"].success);
  CHECK(f.status_of(id).failed == 2);
}

TEST_CASE("cancelling a task skips its dependents, cancelling the batch cancels blocked tasks") {
  fleet_fixture f;
  f.start();
  SUBCASE("one task") {
    auto id = f.submit_ok({make_task("long", "sleep", R"({"ms": 5000})"), after(make_task("next", "echo"), {"long"}),
                           make_task("side", "sleep", R"({"ms": 5000})"), after(make_task("waits", "echo"), {"side"})});
    f.advance(50);
    auto n = f.ask<int64_t>(cancel_atom::value, id, std::vector<std::string>{"waits"});
    REQUIRE(n);
    CHECK(*n == 1);
    n = f.ask<int64_t>(cancel_atom::value, id, std::vector<std::string>{"long"});
    REQUIRE(n);
    CHECK(*n == 1);
    REQUIRE(f.advance_until([&] { return f.query_text("SELECT state FROM tasks WHERE task_id = 'next'") == "failed"; },
                            1'000));
    CHECK(f.query_text("SELECT error FROM tasks WHERE task_id = 'next'")
          == "not run: task \"long\", which it runs after, was cancelled");
    CHECK(f.query_text("SELECT state FROM tasks WHERE task_id = 'waits'") == "cancelled");
    REQUIRE(f.advance_until([&] { return f.finished(id); }, 10'000));
    auto st = f.status_of(id);
    CHECK(st.cancelled == 2);
    CHECK(st.failed == 1);
    CHECK(st.completed == 1);
  }
  SUBCASE("the batch") {
    auto id = f.submit_ok({make_task("long", "sleep", R"({"ms": 5000})"), after(make_task("next", "echo"), {"long"})});
    f.advance(50);
    REQUIRE(*f.ask<bool>(cancel_atom::value, id));
    REQUIRE(f.advance_until([&] { return f.finished(id); }, 1'000));
    auto st = f.status_of(id);
    CHECK(st.cancelled == 2);
    CHECK(st.failed == 0);
    CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'tasks_skipped'") == 0);
  }
}

TEST_CASE("a restart in the middle of a graph keeps the blocked tasks and finishes them once") {
  temp_dir dir;
  auto db = dir.file("fleet.db");
  std::string id;
  {
    fleet_fixture first{fleet_fixture::small_config(), db};
    first.start();
    id = first.submit_ok({make_task("a", "sleep", R"({"ms": 100})"), after(make_task("b", "sleep", R"({"ms": 1000})"), {"a"}),
                          after(make_task("c", "echo"), {"b"})});
    first.advance(300); // a done, b running, c blocked
    REQUIRE(first.query_text("SELECT state FROM tasks WHERE task_id = 'b'") == "running");
    REQUIRE(first.status_of(id).blocked == 1);
  }
  fleet_fixture second{fleet_fixture::small_config(), db};
  second.start();
  REQUIRE(second.advance_until([&] { return second.finished(id); }, 10'000));
  auto st = second.status_of(id);
  CHECK(st.completed == 3);
  CHECK(second.query_int("SELECT attempts FROM tasks WHERE task_id = 'a'") == 1);
  CHECK(second.query_int("SELECT attempts FROM tasks WHERE task_id = 'c'") == 1);
  CHECK(started_at(second, "c") >= finished_at(second, "b"));
}

TEST_CASE("graphs that cannot run are refused, and nothing is stored") {
  fleet_fixture f;
  f.start();
  auto refused = [&](std::vector<task> tasks) {
    auto out = f.ask<std::string>(submit_atom::value, std::move(tasks));
    REQUIRE_FALSE(out);
    return error_text(out.error());
  };
  auto cycle = refused({after(make_task("a", "echo"), {"c"}), after(make_task("b", "echo"), {"a"}),
                        after(make_task("c", "echo"), {"b"}), make_task("d", "echo")});
  CHECK(cycle.find("cycle") != std::string::npos);
  CHECK(cycle.find("\"a\" runs after \"c\"") != std::string::npos);
  CHECK(refused({after(make_task("a", "echo"), {"a"})}).find("names the task itself") != std::string::npos);
  CHECK(refused({after(make_task("a", "echo"), {"zz"})}).find("\"zz\", which is not a task of this batch")
        != std::string::npos);
  CHECK(refused({make_task("b", "echo"), after(make_task("a", "echo"), {"b", "b"})}).find("twice") != std::string::npos);
  auto delayed = after(make_task("a", "echo"), {"b"});
  delayed.delay_ms = 1000;
  CHECK(refused({make_task("b", "echo"), delayed}).find("run_at or delay_ms") != std::string::npos);
  CHECK(f.query_int("SELECT count(*) FROM batches") == 0);
  CHECK(f.query_int("SELECT count(*) FROM task_deps") == 0);
}

TEST_CASE("an upload may name tasks of later chunks, and its cycle or unknown id is refused at the seal") {
  fleet_fixture f;
  f.start();
  auto upload = [&](std::vector<std::vector<task>> chunks) {
    auto up = f.ask<std::string>(upload_open_atom::value);
    REQUIRE(up);
    for (auto& chunk : chunks)
      REQUIRE(f.ask<int64_t>(upload_chunk_atom::value, *up, std::move(chunk)));
    return f.ask<std::string>(upload_seal_atom::value, *up, std::string{});
  };
  auto ok = upload({{after(make_task("first", "echo"), {"last"})}, {make_task("last", "echo", R"({"v": 1})")}});
  REQUIRE(ok);
  REQUIRE(f.advance_until([&] { return f.finished(*ok); }, 5'000));
  CHECK(f.status_of(*ok).completed == 2);
  CHECK(started_at(f, "first") >= finished_at(f, "last"));
  auto cyclic = upload({{after(make_task("x", "echo"), {"y"})}, {after(make_task("y", "echo"), {"x"})}});
  REQUIRE_FALSE(cyclic);
  CHECK(error_text(cyclic.error()).find("cycle") != std::string::npos);
  auto unknown = upload({{after(make_task("x", "echo"), {"nobody"})}});
  REQUIRE_FALSE(unknown);
  CHECK(error_text(unknown.error()).find("\"nobody\", which is not a task of this batch") != std::string::npos);
  CHECK(f.query_int("SELECT count(*) FROM batches") == 1);
  CHECK(f.query_int("SELECT count(*) FROM task_deps") == 1);
}
