// Task types registered with worker_registry::add_shared: one worker runs every attempt of the
// type, in fleetd and on a fleet-node; a timeout or cancel drops an attempt without stopping the
// worker, and a worker that exits fails the attempts it held and is replaced.

#include "node_helpers.hpp"

#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <set>

using namespace fleet;
using namespace fleet::test;

namespace {

using due_atom = caf::atom_constant<caf::atom("due")>;
using delaying_actor = worker_actor::extend<caf::reacts_to<due_atom, std::string>>;

struct delaying_state {
  std::map<std::string, caf::typed_response_promise<task_outcome>> waiting;
  int served = 0;
};

/// A shared worker: answers each attempt after data.ms (the count of attempts it answered so
/// far, this one included), or quits at once for data.die.
delaying_actor::behavior_type delaying_worker(delaying_actor::stateful_pointer<delaying_state> self) {
  return {
    [self](execute_atom, const task& t, int32_t attempt) -> caf::result<task_outcome> {
      auto data = nlohmann::json::parse(t.data);
      if (data.value("die", false) && attempt == 1) {
        self->quit(caf::make_error(errc::worker_failed, "told to die"));
        return caf::make_error(errc::worker_failed, "told to die");
      }
      auto key = t.id + "/" + std::to_string(attempt);
      auto rp = self->make_response_promise<task_outcome>();
      self->state.waiting[key] = rp;
      self->delayed_send(self, std::chrono::milliseconds(data.value("ms", 0)), due_atom::value, key);
      return rp;
    },
    [self](due_atom, const std::string& key) {
      auto i = self->state.waiting.find(key);
      i->second.deliver(success(std::to_string(++self->state.served)));
      self->state.waiting.erase(i);
    },
  };
}

/// Registers "delay" as shared; the count says how many workers were spawned.
std::shared_ptr<int> add_delay_type(worker_registry& reg) {
  auto spawned = std::make_shared<int>(0);
  reg.add_shared("delay", [spawned](caf::actor_system& sys) {
    ++*spawned;
    return caf::actor_cast<worker_actor>(sys.spawn(delaying_worker));
  });
  return spawned;
}

task delay_task(std::string id, int ms) {
  return make_task(std::move(id), "delay", fmt::format(R"({{"ms":{}}})", ms));
}

} // namespace

TEST_CASE("a shared type's attempts run on one worker, several at once, spawned once") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_concurrent_workers = 4;
  fleet_fixture f{cfg};
  auto spawned = add_delay_type(f.registry());
  f.start();
  std::vector<task> tasks;
  for (int i = 0; i < 12; ++i)
    tasks.push_back(delay_task("t" + std::to_string(i), 100));
  auto id = f.submit_ok(tasks);
  f.advance(50);
  CHECK(f.stats().active_workers == 4); // four attempts held by the one worker at once
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  CHECK(f.status_of(id).completed == 12);
  CHECK(*spawned == 1);
  std::set<std::string> answers;
  for (const auto& r : f.results_of(id))
    answers.insert(r.result);
  CHECK(answers.size() == 12); // each attempt answered once: 1..12 from one counter
  CHECK(answers.count("1") == 1);
  CHECK(answers.count("12") == 1);
}

TEST_CASE("a timeout or a cancel drops a shared worker's attempt and leaves the worker serving") {
  auto cfg = fleet_fixture::small_config();
  cfg.worker_timeout_ms = 1000;
  cfg.retry_failed_tasks = false;
  fleet_fixture f{cfg};
  auto spawned = add_delay_type(f.registry());
  f.start();
  auto slow = f.submit_ok({delay_task("slow", 5000)});
  REQUIRE(f.advance_until([&] { return f.finished(slow); }, 3000));
  auto rs = f.results_of(slow);
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].error == "worker timed out after 1000 ms");
  auto cancelled = f.submit_ok({delay_task("c1", 5000), delay_task("c2", 5000)});
  f.advance(100);
  REQUIRE(*f.ask<bool>(cancel_atom::value, cancelled));
  // The same worker, never stopped: it answers the dropped attempts as they come due (answers
  // fleetd ignores), then this one.
  f.advance(6000);
  auto after = f.submit_ok({delay_task("after", 500)});
  REQUIRE(f.advance_until([&] { return f.finished(after); }));
  rs = f.results_of(after);
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].success);
  CHECK(rs[0].result == "4");
  CHECK(*spawned == 1);
  CHECK(f.status_of(cancelled).status == batch_state::cancelled);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'succeeded'") == 1);
  CHECK(f.stats().active_workers == 0);
}

TEST_CASE("a shared worker that exits fails the attempts it held, and the next attempt gets a new one") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_concurrent_workers = 3;
  cfg.max_retries = 1;
  fleet_fixture f{cfg};
  auto spawned = add_delay_type(f.registry());
  f.start();
  // Two attempts wait on the worker when the third tells it to die.
  auto id = f.submit_ok({delay_task("a", 500), delay_task("b", 500), make_task("die", "delay", R"({"die":true})")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  CHECK(f.status_of(id).completed == 3); // each retried once on the second worker
  CHECK(*spawned == 2);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE attempt = 1 AND outcome = 'failed'") == 3);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE attempt = 2 AND outcome = 'succeeded'") == 3);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'task_retry_scheduled'") == 3);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'task_retry_scheduled'"
                    " AND detail LIKE '%exited without a result%'") == 2);
}

TEST_CASE("built-in echo and fail run on shared workers: results, failures and retries as per attempt") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_retries = 2;
  fleet_fixture f{cfg};
  f.start();
  std::vector<task> tasks;
  for (int i = 0; i < 20; ++i)
    tasks.push_back(make_task("e" + std::to_string(i), "echo", fmt::format(R"({{"i":{}}})", i)));
  tasks.push_back(make_task("twice", "fail", R"({"times":2})"));
  tasks.push_back(make_task("always", "fail", R"({"error":"no"})"));
  auto id = f.submit_ok(tasks);
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto rs = f.results_of(id);
  REQUIRE(rs.size() == 22);
  for (int i = 0; i < 20; ++i)
    CHECK(rs[i].result == fmt::format(R"({{"i":{}}})", i));
  CHECK(rs[20].success);
  CHECK(rs[20].attempts == 3);
  CHECK_FALSE(rs[21].success);
  CHECK(rs[21].error == "no (attempt 3)");
  CHECK(f.stats().active_workers == 0);
}

TEST_CASE("a fleet-node runs a shared type's attempts on one worker and spawns another after it exits") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_concurrent_workers = 4;
  cfg.max_retries = 1;
  fleet_fixture f{cfg};
  f.set_nodes(0);
  f.start();
  auto reg = builtin_registry({"echo"});
  auto spawned = add_delay_type(*reg);
  join_node(f, "n1", {"delay"}, 4, reg);
  std::vector<task> tasks;
  for (int i = 0; i < 10; ++i)
    tasks.push_back(delay_task("t" + std::to_string(i), 50));
  auto id = f.submit_ok(tasks);
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  CHECK(f.status_of(id).completed == 10);
  CHECK(*spawned == 1);
  auto dies = f.submit_ok({make_task("die", "delay", R"({"die":true})")});
  REQUIRE(f.advance_until([&] { return f.finished(dies); }));
  CHECK(f.status_of(dies).completed == 1); // its retry ran on a new worker
  CHECK(*spawned == 2);
}
