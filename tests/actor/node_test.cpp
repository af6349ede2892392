// fleet-nodes inside the test process: the same node actor as fleet-node runs, joined to the
// manager, on the deterministic scheduler.

#include "node_helpers.hpp"

#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

using namespace fleet;
using namespace fleet::test;

TEST_CASE("attempts go only to nodes that run their type, within each node's capacity") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_concurrent_workers = 8;
  fleet_fixture f{cfg};
  f.set_nodes(0); // fleetd itself runs nothing
  f.start();
  auto a = join_node(f, "a", {"echo"}, 4);
  auto b = join_node(f, "b", {"sleep"}, 1);
  auto nodes = f.ask<std::vector<node_info>>(nodes_atom::value);
  REQUIRE(nodes);
  REQUIRE(nodes->size() == 3);
  CHECK((*nodes)[0].name == "local");
  CHECK((*nodes)[0].capacity == 0);
  CHECK((*nodes)[1].name == "a");
  CHECK((*nodes)[2].name == "b");
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'node_joined'") == 2);
  auto tasks = echo_tasks(10);
  for (auto& t : sleep_tasks(3, 100))
    tasks.push_back(t);
  auto id = f.submit_ok(tasks);
  int most_on_b = 0;
  bool saw_node_in_workers = false;
  REQUIRE(f.advance_until([&] {
    most_on_b = std::max(most_on_b, node_named(f, "b").running);
    auto ws = f.ask<std::vector<worker_info>>(workers_atom::value);
    REQUIRE(ws);
    for (const auto& w : *ws)
      saw_node_in_workers = saw_node_in_workers || (w.task_id[0] == 's' && w.node == "b");
    return f.finished(id);
  }));
  CHECK(most_on_b == 1);
  CHECK(saw_node_in_workers);
  CHECK(f.status_of(id).completed == 13);
  CHECK(f.query_int("SELECT count(*) FROM attempts a JOIN tasks t ON t.seq = a.task_seq "
                    "WHERE t.type = 'echo' AND a.node = 'a'") == 10);
  CHECK(f.query_int("SELECT count(*) FROM attempts a JOIN tasks t ON t.seq = a.task_seq "
                    "WHERE t.type = 'sleep' AND a.node = 'b'") == 3);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE node IS NULL") == 0);
  // The echo results came back from node a intact.
  auto rs = f.results_of(id);
  REQUIRE(rs.size() == 13);
  CHECK(rs[3].result == R"({"n":3})");
}

TEST_CASE("a type only a node runs is accepted once the node joined, and the node checks its data") {
  auto cfg = fleet_fixture::small_config();
  cfg.retry_failed_tasks = false;
  fleet_fixture f{cfg};
  f.start();
  auto gpu_task = [](std::string id, std::string data) { return make_task(std::move(id), "gpu", std::move(data)); };
  auto before = f.ask<std::string>(submit_atom::value, std::vector<task>{gpu_task("g0", R"({"model":"m"})")});
  REQUIRE_FALSE(before);
  CHECK(before.error() == errc::unknown_task_type);
  auto reg = std::make_shared<worker_registry>();
  reg->add(
    "gpu", [](caf::actor_system& sys) { return sys.spawn(echo_worker); },
    [](const nlohmann::json& data) -> caf::error {
      if (!data.contains("model"))
        return caf::make_error(errc::invalid_task, "gpu tasks need a model");
      return caf::none;
    });
  auto node = join_node(f, "gpu-1", {"gpu"}, 2, reg);
  auto id = f.submit_ok({gpu_task("good", R"({"model":"m"})"), gpu_task("bad", R"({"weights":1})")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto rs = f.results_of(id);
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].success);
  CHECK(rs[0].result == R"({"model":"m"})");
  CHECK_FALSE(rs[1].success);
  CHECK_MESSAGE(rs[1].error.find("gpu tasks need a model") != std::string::npos, rs[1].error);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE node = 'gpu-1'") == 2);
}

TEST_CASE("a node that goes away mid-attempt: its attempts are interrupted and run again, each task succeeds once") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_concurrent_workers = 6;
  fleet_fixture f{cfg};
  f.start();
  auto a = join_node(f, "a", {"sleep"}, 4);
  auto id = f.submit_ok(sleep_tasks(6, 1000));
  auto on_a = node_named(f, "a").running;
  REQUIRE(on_a > 0);
  CHECK(node_named(f, "local").running == 6 - on_a);
  caf::anon_send_exit(a, caf::exit_reason::kill);
  f.run();
  CHECK(node_named(f, "a").name.empty());
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  CHECK(f.status_of(id).completed == 6);
  check_each_task_succeeded_once(f, 6);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE node = 'a' AND outcome = 'interrupted'") == on_a);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE node = 'a' AND outcome <> 'interrupted'") == 0);
  // Interruptions are not failures: they do not use up retries.
  CHECK(f.query_int("SELECT sum(interruptions) FROM tasks") == on_a);
  CHECK(f.query_int("SELECT retries FROM batches") == 0);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'node_dropped' AND detail LIKE '%\"node\":\"a\"%'") == 1);
}

TEST_CASE("a node that stops answering heartbeats is dropped, told so, and its work waits for another node") {
  fleet_fixture f;
  f.set_nodes(0, 1000, 3000);
  f.start();
  auto record = std::make_shared<silent_record>();
  auto silent = spawn_silent(f, record, "mute");
  auto welcome = f.ask<node_welcome>(node_join_atom::value, node_announcement{"mute", {"echo"}, 2, {}},
                                     node_actor{silent});
  REQUIRE(welcome);
  CHECK(welcome->heartbeat_ms == 1000);
  CHECK(welcome->timeout_ms == 3000);
  auto id = f.submit_ok(echo_tasks(3));
  CHECK(node_named(f, "mute").running == 2);
  // The first heartbeat goes out after 1 s and times out 3 s later.
  auto advance_in_steps = [&](int64_t ms) {
    for (int64_t t = 0; t < ms; t += 100)
      f.advance(100);
  };
  advance_in_steps(3900);
  CHECK_FALSE(node_named(f, "mute").name.empty());
  advance_in_steps(200);
  CHECK(node_named(f, "mute").name.empty());
  CHECK_MESSAGE(record->dropped_reason.find("no answer to a heartbeat within 3000 ms") != std::string::npos,
                record->dropped_reason);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE node = 'mute' AND outcome = 'interrupted'") == 2);
  CHECK(f.status_of(id).completed == 0);
  // Nothing else runs echo (fleetd's own workers are off): the tasks wait, then a new node runs them.
  f.advance(5000);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'pending'") == 3);
  auto b = join_node(f, "b", {"echo"}, 2);
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  check_each_task_succeeded_once(f, 3);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE node = 'b' AND outcome = 'succeeded'") == 3);
  caf::anon_send_exit(silent, caf::exit_reason::kill);
}

TEST_CASE("a remote attempt past worker_timeout is stopped on its node") {
  auto cfg = fleet_fixture::small_config();
  cfg.worker_timeout_ms = 500;
  cfg.retry_failed_tasks = false;
  fleet_fixture f{cfg};
  f.set_nodes(0);
  f.start();
  auto a = join_node(f, "a", {"sleep"}, 1);
  auto id = f.submit_ok(sleep_tasks(1, 60'000));
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 5000));
  auto rs = f.results_of(id);
  REQUIRE(rs.size() == 1);
  CHECK_MESSAGE(rs[0].error.find("timed out after 500 ms") != std::string::npos, rs[0].error);
  CHECK(node_named(f, "a").running == 0);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE node = 'a' AND outcome = 'timed_out'") == 1);
  // The node is still in the fleet and takes the next task.
  auto next = f.submit_ok(sleep_tasks(1, 10, "n"));
  REQUIRE(f.advance_until([&] { return f.finished(next); }, 5000));
  CHECK(f.status_of(next).completed == 1);
}

TEST_CASE("a node gives its worker the attempt's deadline on its own clock, whatever fleetd's clock says") {
  auto cfg = fleet_fixture::small_config();
  cfg.worker_timeout_ms = 10'000;
  fleet_fixture f{cfg};
  f.set_nodes(0);
  f.set_wall_offset(-3'600'000); // fleetd's machine is an hour behind the node's
  f.start();
  auto seen_deadline = std::make_shared<int64_t>(0);
  auto reg = builtin_registry({"echo"});
  reg->add("probe", [seen_deadline](caf::actor_system& sys, const attempt_info& info) {
    *seen_deadline = info.deadline_ms;
    return sys.spawn(echo_worker);
  });
  auto a = join_node(f, "a", {"probe"}, 1, reg);
  auto before = fleet_fixture::wall_clock_now_ms();
  auto id = f.submit_ok({make_task("p", "probe")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  CHECK(f.status_of(id).completed == 1);
  // The node's clock plus worker_timeout (the test scheduler's time does not pass on the node's
  // real clock), not fleetd's clock plus worker_timeout, which is an hour in the node's past.
  CHECK(*seen_deadline >= before + 10'000);
  CHECK(*seen_deadline <= fleet_fixture::wall_clock_now_ms() + 10'000);
}

TEST_CASE("bad joins are refused and change nothing, and a node takes work from fleetd alone") {
  fleet_fixture f;
  f.start();
  auto refused = [&](node_announcement a, node_actor handle, const std::string& expected) {
    auto r = f.ask<node_welcome>(node_join_atom::value, std::move(a), std::move(handle));
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::invalid_node);
    CHECK_MESSAGE(error_text(r.error()).find(expected) != std::string::npos, error_text(r.error()));
  };
  auto silent = spawn_silent(f, std::make_shared<silent_record>(), "x");
  refused({"x", {"echo"}, 1, {}}, node_actor{}, "handle of its node actor");
  refused({"local", {"echo"}, 1, {}}, silent, "stands for fleetd's own workers");
  refused({"x y", {"echo"}, 1, {}}, silent, "a node name has 1 to 64 characters");
  refused({"x", {}, 1, {}}, silent, "1 to 100 task types");
  refused({"x", {"echo"}, 0, {}}, silent, "capacity of 1 to 10000");
  // A join without a sender would skip the check that the handle is the sender's.
  caf::anon_send(f.manager(), node_join_atom::value, node_announcement{"anonymous", {"echo"}, 1, {}},
                 node_actor{silent});
  f.run();
  auto nodes = f.ask<std::vector<node_info>>(nodes_atom::value);
  REQUIRE(nodes);
  CHECK(nodes->size() == 1);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind LIKE 'node%'") == 0);
  // The node actor takes attempts from the fleetd it joined alone: a stranger's run nowhere.
  auto spawned = std::make_shared<int>(0);
  auto reg = builtin_registry({"echo"});
  reg->add("probe", [spawned](caf::actor_system& sys, const attempt_info&) {
    ++*spawned;
    return sys.spawn(echo_worker);
  });
  auto node = join_node(f, "a", {"probe"}, 1, reg);
  caf::scoped_actor stranger{f.sys()};
  stranger->send(node, execute_atom::value,
                 std::vector<node_attempt>{{1, 1, "w", make_task("t", "probe"), int64_t{1000}}});
  f.run();
  CHECK(*spawned == 0);
  auto beat = stranger->request(node, caf::infinite, heartbeat_atom::value);
  f.run();
  bool refused_beat = false;
  beat.receive([](int32_t) {}, [&](caf::error& err) { refused_beat = err == errc::not_permitted; });
  CHECK(refused_beat);
  CHECK(node_named(f, "a").running == 0);
  // Only a node itself may say that it drains: anyone else is refused and the node keeps its work.
  auto drain = f.ask<int32_t>(node_drain_atom::value, std::string{"a"});
  REQUIRE_FALSE(drain);
  CHECK(drain.error() == errc::not_permitted);
  auto unknown = f.ask<int32_t>(node_drain_atom::value, std::string{"nobody"});
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error() == errc::not_permitted);
  CHECK_FALSE(node_named(f, "a").draining);
  caf::anon_send_exit(silent, caf::exit_reason::kill);
}

TEST_CASE("a node fails at once, without retries, a task whose data is not JSON, for a kind without a data check") {
  // fleetd checks that data is JSON at submit; data changed in the file afterwards (by hand, by a
  // damaged copy) reaches the node as it is, and the node must not run it.
  auto cfg = fleet_fixture::small_config();
  cfg.retry_failed_tasks = true;
  cfg.max_retries = 3;
  fleet_fixture f{cfg};
  f.set_nodes(0);
  f.start();
  auto reg = std::make_shared<worker_registry>();
  reg->add("raw", [](caf::actor_system& sys) { return sys.spawn(echo_worker); });
  REQUIRE_FALSE(reg->checks_data("raw"));
  auto node = join_node(f, "raw-1", {"raw"}, 2, reg);
  auto later = [](std::string id, std::string data) {
    auto t = make_task(std::move(id), "raw", std::move(data));
    t.delay_ms = 1'000;
    return t;
  };
  auto id = f.submit_ok({later("damaged", R"({"n":1})"), later("intact", R"({"n":2})")});
  {
    auto db = sqlite::database::open(f.db_path());
    REQUIRE(db);
    REQUIRE_FALSE(db->exec("PRAGMA busy_timeout = 5000;"
                           "UPDATE tasks SET data = '{\"n\":' || CAST(x'ff' AS TEXT) WHERE task_id = 'damaged'"));
    REQUIRE(db->changes() == 1);
  }
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 5'000));
  auto rs = f.results_of(id);
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].task_id == "damaged");
  CHECK_FALSE(rs[0].success);
  CHECK_MESSAGE(rs[0].error.find("task damaged: data is not valid JSON") != std::string::npos, rs[0].error);
  CHECK(rs[1].success);
  CHECK(rs[1].result == R"({"n":2})");
  // One attempt, on the node, and no retry: the data would not change by trying again.
  CHECK(f.query_int("SELECT attempts FROM tasks WHERE task_id = 'damaged'") == 1);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE node = 'raw-1'") == 2);
  caf::anon_send_exit(node, caf::exit_reason::kill);
}

namespace {

/// A worker whose result is what it was given of its dependencies.
worker_actor::behavior_type deps_worker(worker_actor::pointer self) {
  return {
    [self](execute_atom, const task& t, int32_t) -> caf::result<task_outcome> {
      self->quit();
      return success(t.deps.empty() ? "{\"none\": true}" : t.deps);
    },
  };
}

} // namespace

TEST_CASE("a dependent task on a node gets its dependencies' results, or fails if they do not fit in a message") {
  fleet_fixture f;
  f.set_nodes(0);
  // Room beside a task in one message to a node: the other attempts of the message (up to
  // max_node_batch_bytes) and 64 KiB of framing, then 1,000 bytes for the task and its results.
  f.set_max_message_bytes(max_node_batch_bytes + (64 << 10) + 1000);
  f.start();
  auto reg = builtin_registry({"echo"});
  reg->add("deps", [](caf::actor_system& sys) { return sys.spawn(deps_worker); });
  auto node = join_node(f, "n1", {"echo", "deps"}, 4, reg);
  auto after = [](task t, std::vector<std::string> ids) {
    t.after = std::move(ids);
    return t;
  };
  auto wide = R"({"pad":")" + std::string(1200, 'w') + R"("})";
  auto id = f.submit_ok({make_task("a", "echo", R"({"n":1})"), make_task("b", "echo", R"({"n":2})"),
                         make_task("w", "echo", wide), after(make_task("join", "deps"), {"a", "b"}),
                         after(make_task("too-wide", "deps"), {"a", "w"})});
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 5'000));
  std::map<std::string, task_result> rs;
  for (auto& r : f.results_of(id))
    rs[r.task_id] = r;
  REQUIRE(rs["join"].success);
  CHECK(nlohmann::json::parse(rs["join"].result) == nlohmann::json::parse(R"({"a": {"n": 1}, "b": {"n": 2}})"));
  CHECK_FALSE(rs["too-wide"].success);
  CHECK_MESSAGE(rs["too-wide"].error.find("more than fit in one message to a node") != std::string::npos,
                rs["too-wide"].error);
  CHECK(rs["too-wide"].attempts == 1);
  // Every attempt, the refused one too, is on the node's record; the node itself ran four.
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE node = 'n1'") == 5);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'succeeded'") == 4);
  caf::anon_send_exit(node, caf::exit_reason::kill);
}

TEST_CASE("fleetd sends a node its attempts together and takes back its outcomes together, from that node alone") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_concurrent_workers = 8;
  cfg.retry_failed_tasks = false;
  fleet_fixture f{cfg};
  f.set_nodes(0);
  f.start();
  auto record = std::make_shared<silent_record>();
  auto scripted = join_silent(f, record, "s", 8);
  auto id = f.submit_ok(echo_tasks(8));
  // One message with every attempt placed there, each with its time span and fleetd's ids.
  REQUIRE(record->messages.size() == 1);
  const auto work = record->messages[0];
  REQUIRE(work.size() == 8);
  std::set<std::string> task_ids;
  for (const auto& a : work) {
    task_ids.insert(a.spec.id);
    CHECK(a.attempt == 1);
    CHECK(a.timeout_ms == cfg.worker_timeout_ms);
    CHECK(f.query_int(fmt::format("SELECT count(*) FROM tasks WHERE seq = {} AND task_id = '{}'", a.seq, a.spec.id))
          == 1);
  }
  CHECK(task_ids.size() == 8);
  auto ok = [](const node_attempt& a) {
    return node_outcome{a.seq, a.attempt, a.worker_id, success(R"({"from":"s"})"), {}};
  };
  // Outcomes from anyone but the node, or for attempts that are not the node's, change nothing.
  caf::scoped_actor stranger{f.sys()};
  std::vector<node_outcome> forged;
  for (const auto& a : work)
    forged.push_back(ok(a));
  stranger->send(f.manager(), outcomes_atom::value, std::string{"s"}, forged);
  f.run();
  auto mixed_up = ok(work[0]);
  mixed_up.worker_id = work[1].worker_id;
  auto wrong_attempt = ok(work[2]);
  wrong_attempt.attempt = 2;
  caf::anon_send(scripted, outcomes_atom::value, std::vector<node_outcome>{mixed_up, wrong_attempt});
  f.run();
  CHECK(f.status_of(id).completed == 0);
  CHECK(node_named(f, "s").running == 8);
  // The node's own report, in one message: seven results and one attempt without an outcome.
  std::vector<node_outcome> outcomes;
  for (size_t i = 0; i < 7; ++i)
    outcomes.push_back(ok(work[i]));
  outcomes.push_back({work[7].seq, work[7].attempt, work[7].worker_id, {},
                      caf::make_error(errc::worker_failed, "worker on node s ended without a result")});
  caf::anon_send(scripted, outcomes_atom::value, outcomes);
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto st = f.status_of(id);
  CHECK(st.completed == 7);
  CHECK(st.failed == 1);
  CHECK(node_named(f, "s").running == 0);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE node = 's' AND outcome = 'succeeded'") == 7);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE result = '{\"from\":\"s\"}'") == 7);
  CHECK(f.query_int(fmt::format("SELECT count(*) FROM tasks WHERE task_id = '{}' AND state = 'failed' "
                                "AND error LIKE '%ended without a result%'",
                                work[7].spec.id))
        == 1);
  // A second report of the same attempts is late: counted once.
  caf::anon_send(scripted, outcomes_atom::value, outcomes);
  f.run();
  CHECK(f.query_int("SELECT count(*) FROM attempts") == 8);
  CHECK(f.status_of(id).completed == 7);
  caf::anon_send_exit(scripted, caf::exit_reason::kill);
}

TEST_CASE("a real node runs many attempts placed together and every task succeeds once") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_concurrent_workers = 300;
  fleet_fixture f{cfg};
  f.set_nodes(0);
  f.start();
  // More attempts at once than one message carries.
  auto a = join_node(f, "a", {"echo"}, 300);
  auto id = f.submit_ok(echo_tasks(1000));
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  CHECK(f.status_of(id).completed == 1000);
  check_each_task_succeeded_once(f, 1000);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE node = 'a'") == 1000);
}

TEST_CASE("attempts for a node go in messages of at most max_node_batch") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_concurrent_workers = 300;
  fleet_fixture f{cfg};
  f.set_nodes(0);
  f.start();
  auto record = std::make_shared<silent_record>();
  auto scripted = join_silent(f, record, "s", 300);
  f.submit_ok(echo_tasks(300));
  size_t total = 0;
  for (const auto& m : record->messages) {
    CHECK(m.size() <= max_node_batch);
    total += m.size();
  }
  CHECK(total == 300);
  CHECK(record->messages.size() >= 2);
  CHECK(record->messages.front().size() == max_node_batch);
  caf::anon_send_exit(scripted, caf::exit_reason::kill);
}

namespace {

/// Four echo tasks placed on the silent node "n1" (capacity 4), then fleetd stopped and started
/// again on the same file with `rejoin_ms` for its nodes: the attempts each node got, by task id.
std::map<std::string, node_attempt> four_attempts_across_a_restart(fleet_fixture& f, int64_t rejoin_ms) {
  f.set_nodes(0, 1000, 60'000);
  f.set_node_rejoin(rejoin_ms);
  f.initial_config().max_concurrent_workers = 8;
  f.start();
  auto record = std::make_shared<silent_record>();
  auto first = join_silent(f, record, "n1", 4);
  f.submit_ok(echo_tasks(4));
  std::map<std::string, node_attempt> placed;
  for (const auto& message : record->messages)
    for (const auto& a : message)
      placed[a.spec.id] = a;
  REQUIRE(placed.size() == 4);
  f.stop();
  caf::anon_send_exit(first, caf::exit_reason::kill);
  f.run();
  f.start();
  return placed;
}

node_outcome running_report(const node_attempt& a) {
  return node_outcome{a.seq, a.attempt, a.worker_id, {}, {}};
}

node_outcome success_report(const node_attempt& a) {
  return node_outcome{a.seq, a.attempt, a.worker_id, task_outcome{true, R"({"done":true})", {}, true}, {}};
}

using padded_done_atom = caf::atom_constant<caf::atom("paddone")>;
using padded_worker_actor = worker_actor::extend<caf::reacts_to<padded_done_atom>>;

/// Succeeds after `ms` of the test clock with a result of about `bytes` bytes.
padded_worker_actor::behavior_type padded_worker(padded_worker_actor::stateful_pointer<caf::typed_response_promise<task_outcome>> self,
                                                 int64_t ms, size_t bytes) {
  return {
    [self, ms](execute_atom, const task&, int32_t) -> caf::result<task_outcome> {
      self->state = self->make_response_promise<task_outcome>();
      self->delayed_send(self, std::chrono::milliseconds(ms), padded_done_atom::value);
      return self->state;
    },
    [self, bytes](padded_done_atom) {
      self->state.deliver(task_outcome{true, nlohmann::json{{"pad", std::string(bytes, 'x')}}.dump(), {}, true});
      self->quit();
    },
  };
}

} // namespace

TEST_CASE("a node that held more outcomes than a join carries reports the rest after the welcome, none run again") {
  fleet_fixture f;
  f.set_nodes(0, 1000, 60'000);
  f.set_node_rejoin(60'000);
  f.initial_config().max_concurrent_workers = 8;
  f.start();
  auto reg = std::make_shared<worker_registry>();
  reg->add("padded", [](caf::actor_system& sys) {
    return caf::actor_cast<worker_actor>(sys.spawn(padded_worker, 1'000, size_t{1'000'000}));
  });
  auto losses = std::make_shared<int>(0);
  auto node = join_holding_node(f, "n1", {"padded"}, 8, reg, losses);
  std::vector<task> tasks;
  for (int i = 0; i < 6; ++i)
    tasks.push_back(task{fmt::format("p{}", i), "padded", "{}", 0});
  f.submit_ok(tasks);
  REQUIRE(node_named(f, "n1").running == 6);
  // fleetd stops while the six run; they end while it is away, with 6 MB of results: more than a
  // join carries (max_join_outcome_bytes), which fleetd refuses.
  f.stop();
  CHECK(*losses == 1);
  f.advance(1'500);
  f.start();
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE node = 'n1' AND finished_at IS NULL") == 6);
  rejoin(f, node);
  f.run();
  REQUIRE(f.advance_until([&] { return f.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded'") == 6; }));
  CHECK(f.query_int("SELECT count(*) FROM attempts") == 6);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'succeeded' AND node = 'n1'") == 6);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE length(result) > 1000000") == 6);
  CHECK(node_named(f, "n1").running == 0);
  caf::anon_send_exit(node, caf::exit_reason::kill);
}

TEST_CASE("after a restart, a rejoining node's attempts are reconciled: running ones kept, finished ones recorded, "
          "missing ones run again") {
  fleet_fixture f;
  auto placed = four_attempts_across_a_restart(f, 5'000);
  // Held for the node: still running in the record and in the table, not interrupted.
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE node = 'n1' AND finished_at IS NULL") == 4);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'running'") == 4);
  auto stats = f.ask<fleet_stats>(stats_atom::value);
  REQUIRE(stats);
  CHECK(stats->active_workers == 4);
  auto record = std::make_shared<silent_record>();
  auto node = spawn_silent(f, record, "n1");
  node_announcement a{"n1", {"echo"}, 4, {}};
  a.running = {running_report(placed.at("t0")), running_report(placed.at("t1"))};
  // One ended while fleetd was away; "t3" is not reported (the node lost it): a stranger's worker
  // id for it, and its own worker id under a wrong attempt number, are ignored and keep nothing.
  a.finished = {success_report(placed.at("t2"))};
  auto stranger = placed.at("t3");
  stranger.worker_id = "w-someone-else";
  a.running.push_back(running_report(stranger));
  auto wrong = placed.at("t3");
  wrong.attempt = 7;
  a.finished.push_back(success_report(wrong));
  auto welcome = f.ask<node_welcome>(node_join_atom::value, a, node_actor{node});
  REQUIRE(welcome);
  std::set<std::string> kept(welcome->kept.begin(), welcome->kept.end());
  CHECK(kept == std::set<std::string>{placed.at("t0").worker_id, placed.at("t1").worker_id});
  f.run();
  // The two kept, and "t3" again (no other node runs echo).
  CHECK(node_named(f, "n1").running == 3);
  auto attempts_of = [&](const std::string& id, const std::string& outcome) {
    return f.query_int(fmt::format("SELECT count(*) FROM attempts a JOIN tasks t ON t.seq = a.task_seq"
                                   " WHERE t.task_id = '{}' AND a.outcome IS '{}'", id, outcome));
  };
  CHECK(attempts_of("t2", "succeeded") == 1);
  CHECK(f.query_int("SELECT count(*) FROM attempts a JOIN tasks t ON t.seq = a.task_seq WHERE t.task_id = 't2'") == 1);
  CHECK(attempts_of("t3", "interrupted") == 1);
  CHECK(f.query_text("SELECT a.error FROM attempts a JOIN tasks t ON t.seq = a.task_seq WHERE t.task_id = 't3'")
          .find("node n1 rejoined without the attempt") != std::string::npos);
  // The kept ones end with the node's reports, each its task's only attempt. "t3" runs again on
  // the node (it is the only one running echo).
  caf::anon_send(node, outcomes_atom::value,
                 std::vector<node_outcome>{success_report(placed.at("t0")), success_report(placed.at("t1"))});
  f.run();
  for (const auto& message : record->messages)
    for (const auto& again : message)
      caf::anon_send(node, outcomes_atom::value, std::vector<node_outcome>{success_report(again)});
  f.run();
  for (const auto* id : {"t0", "t1", "t2"}) {
    CHECK_MESSAGE(attempts_of(id, "succeeded") == 1, id);
    CHECK(f.query_int(fmt::format("SELECT attempts FROM tasks WHERE task_id = '{}'", id)) == 1);
  }
  CHECK(attempts_of("t3", "succeeded") == 1);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded'") == 4);
  // The rejoin deadline passing later changes nothing.
  f.advance(6'000);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'") == 1);
  caf::anon_send_exit(node, caf::exit_reason::kill);
}

TEST_CASE("after a restart, attempts of a node that does not rejoin in time run again, and without a rejoin time at once") {
  SUBCASE("held until the rejoin time passes") {
    fleet_fixture f;
    four_attempts_across_a_restart(f, 5'000);
    f.advance(4'900);
    CHECK(f.query_int("SELECT count(*) FROM attempts WHERE finished_at IS NULL") == 4);
    f.advance(200);
    CHECK(f.query_int("SELECT count(*) FROM attempts WHERE finished_at IS NULL") == 0);
    CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'"
                      " AND error LIKE '%node n1 did not rejoin within 5000 ms%'") == 4);
    CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'pending' AND orphaned_attempts = 1") == 4);
    auto b = join_node(f, "b", {"echo"}, 4);
    REQUIRE(f.advance_until([&] { return f.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded'") == 4; }));
  }
  SUBCASE("no rejoin time: interrupted by the start itself") {
    fleet_fixture f;
    four_attempts_across_a_restart(f, 0);
    CHECK(f.query_int("SELECT count(*) FROM attempts WHERE finished_at IS NULL") == 0);
    CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'"
                      " AND error = 'fleetd stopped during the attempt'") == 4);
  }
}

TEST_CASE("a join that reports more held attempts, or more bytes of outcomes, than allowed is refused") {
  fleet_fixture f;
  f.set_nodes(0);
  f.start();
  auto record = std::make_shared<silent_record>();
  auto node = spawn_silent(f, record, "big");
  node_announcement a{"big", {"echo"}, 4, {}};
  std::string why;
  SUBCASE("more attempts than max_held_attempts") {
    a.finished.resize(max_held_attempts + 1);
    why = "finished attempts: at most";
  }
  SUBCASE("finished outcomes that carry more than max_join_outcome_bytes") {
    a.finished.resize(5);
    for (auto& o : a.finished)
      o.outcome.result = std::string(max_join_outcome_bytes / 4, 'x');
    why = "bytes of finished outcomes";
  }
  auto welcome = f.ask<node_welcome>(node_join_atom::value, a, node_actor{node});
  REQUIRE_FALSE(welcome);
  CHECK(welcome.error() == errc::invalid_node);
  CHECK(error_text(welcome.error()).find(why) != std::string::npos);
  CHECK(node_named(f, "big").name.empty());
  caf::anon_send_exit(node, caf::exit_reason::kill);
}
