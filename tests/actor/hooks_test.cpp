#include "actors/builtin_workers.hpp"
#include "fleet_fixture.hpp"

#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

using namespace fleet;
using namespace fleet::test;

namespace {

worker_actor::behavior_type reverse_worker(worker_actor::pointer self) {
  return {
    [self](execute_atom, const task& t, int32_t) -> task_outcome {
      auto text = nlohmann::json::parse(t.data).at("text").get<std::string>();
      std::reverse(text.begin(), text.end());
      self->quit();
      return success(nlohmann::json(text).dump());
    },
  };
}

worker_actor::behavior_type throwing_worker(worker_actor::pointer) {
  return {
    [](execute_atom, const task&, int32_t) -> task_outcome {
      throw std::runtime_error("worker blew up");
    },
  };
}

worker_actor::behavior_type vanishing_worker(worker_actor::pointer self) {
  return {
    [self](execute_atom, const task&, int32_t) -> caf::result<task_outcome> {
      auto never_delivered = self->make_response_promise<task_outcome>();
      self->quit(caf::make_error(errc::worker_failed, "worker vanished"));
      return never_delivered;
    },
  };
}

/// Overrides both hooks: picks the worker by a field of the data and wraps every outcome.
class tagging_hooks : public execution_hooks {
public:
  int instances = 0;
  std::vector<std::string> executed;

  caf::expected<worker_actor> get_worker_instance(caf::actor_system& sys, const worker_registry& reg,
                                                  const attempt_info& attempt, const task& t) override {
    ++instances;
    if (t.id == "no-worker")
      return caf::make_error(errc::worker_failed, "no capacity for " + t.id);
    return execution_hooks::get_worker_instance(sys, reg, attempt, t);
  }

  void execute_task_on_worker(fleet_manager_actor::pointer self, const worker_actor& worker,
                              const task& t, int32_t attempt, caf::timespan timeout,
                              outcome_handler done) override {
    executed.push_back(t.id);
    execution_hooks::execute_task_on_worker(
      self, worker, t, attempt, timeout, [done](caf::expected<task_outcome> outcome) {
        if (outcome && outcome->success)
          outcome->result = "{\"wrapped\":" + outcome->result + "}";
        done(std::move(outcome));
      });
  }
};

} // namespace

TEST_CASE("a registered task type runs on its own worker implementation") {
  fleet_fixture f;
  f.registry().add("reverse", [](caf::actor_system& sys) { return sys.spawn(reverse_worker); });
  f.start();
  auto id = f.submit_ok({make_task("r", "reverse", R"({"text": "fleet"})")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto rs = f.results_of(id);
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].result == "\"teelf\"");
}

TEST_CASE("overridden hooks decide how tasks get workers and run on them") {
  auto cfg = fleet_fixture::small_config();
  cfg.retry_failed_tasks = false;
  fleet_fixture f{cfg};
  auto hooks = std::make_shared<tagging_hooks>();
  f.set_hooks(hooks);
  // A worker per attempt, so that the hooks are asked for each (the built-in echo is shared).
  f.registry().add("echo", [](caf::actor_system& sys) { return sys.spawn(echo_worker); });
  f.start();
  auto id = f.submit_ok({make_task("a", "echo", R"({"x": 1})"), make_task("no-worker", "echo")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto rs = f.results_of(id);
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].result == R"({"wrapped":{"x": 1}})");
  CHECK_FALSE(rs[1].success);
  CHECK(rs[1].error == "no capacity for no-worker");
  CHECK(hooks->instances == 2);
  CHECK(hooks->executed == std::vector<std::string>{"a"});
}

TEST_CASE("a worker that throws or quits without replying fails the attempt, which is retried") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_retries = 1;
  fleet_fixture f{cfg};
  f.registry().add("throw", [](caf::actor_system& sys) { return sys.spawn(throwing_worker); });
  f.registry().add("vanish", [](caf::actor_system& sys) { return sys.spawn(vanishing_worker); });
  f.start();
  auto id = f.submit_ok({make_task("t", "throw"), make_task("v", "vanish"), make_task("ok", "echo")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto rs = f.results_of(id);
  REQUIRE(rs.size() == 3);
  CHECK_FALSE(rs[0].success);
  CHECK(rs[0].attempts == 2);
  CAPTURE(rs[0].error);
  CHECK_FALSE(rs[0].error.empty());
  CHECK_FALSE(rs[1].success);
  CHECK(rs[1].attempts == 2);
  CAPTURE(rs[1].error);
  CHECK(rs[1].error.find("worker vanished") != std::string::npos);
  CHECK(rs[2].success);
  CHECK(f.status_of(id).status == batch_state::partial);
  CHECK(f.stats().active_workers == 0);
}

TEST_CASE("thousands of tasks whose worker cannot be had fail one by one without recursion") {
  class no_workers : public execution_hooks {
    caf::expected<worker_actor> get_worker_instance(caf::actor_system&, const worker_registry&,
                                                    const attempt_info&, const task&) override {
      return caf::make_error(errc::worker_failed, "pool exhausted");
    }
  };
  auto cfg = fleet_fixture::small_config();
  cfg.retry_failed_tasks = false;
  fleet_fixture f{cfg};
  f.set_hooks(std::make_shared<no_workers>());
  f.start();
  auto id = f.submit_ok(echo_tasks(3000));
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto st = f.status_of(id);
  CHECK(st.status == batch_state::failed);
  CHECK(st.failed == 3000);
  CHECK(f.results_of(id).back().error == "pool exhausted");
}

namespace {

/// A hook that sends nothing and never reports: only the manager's own deadline ends the attempt.
struct silent_hooks : execution_hooks {
  void execute_task_on_worker(fleet_manager_actor::pointer, const worker_actor&, const task&, int32_t,
                              caf::timespan, outcome_handler) override {
  }
};

} // namespace

TEST_CASE("the manager enforces worker_timeout even when a custom hook never reports") {
  auto cfg = fleet_fixture::small_config();
  cfg.worker_timeout_ms = 200;
  cfg.retry_failed_tasks = false;
  fleet_fixture f{cfg};
  f.set_hooks(std::make_shared<silent_hooks>());
  f.start();
  auto id = f.submit_ok({make_task("quiet", "echo")});
  f.advance(150);
  CHECK_FALSE(f.finished(id));
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 1000));
  auto rs = f.results_of(id);
  REQUIRE(rs.size() == 1);
  CHECK_FALSE(rs[0].success);
  CHECK(rs[0].error == "worker timed out after 200 ms");
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'timed_out'") == 1);
  CHECK(f.stats().active_workers == 0);
}

namespace {

using answer_atom = caf::atom_constant<caf::atom("answer")>;
using slow_shared_actor = worker_actor::extend<caf::reacts_to<answer_atom, std::string>>;

struct slow_shared_state {
  std::map<std::string, caf::typed_response_promise<task_outcome>> waiting;
  int served = 0;
};

/// A long-lived worker that answers each attempt 1 s after it came, and counts what it served.
slow_shared_actor::behavior_type slow_shared_worker(slow_shared_actor::stateful_pointer<slow_shared_state> self) {
  return {
    [self](execute_atom, const task& t, int32_t) -> caf::result<task_outcome> {
      auto rp = self->make_response_promise<task_outcome>();
      self->state.waiting[t.id] = rp;
      self->delayed_send(self, std::chrono::seconds(1), answer_atom::value, t.id);
      return rp;
    },
    [self](answer_atom, const std::string& id) {
      auto i = self->state.waiting.find(id);
      i->second.deliver(success(std::to_string(++self->state.served)));
      self->state.waiting.erase(i);
    },
  };
}

/// The seed's pattern: one named worker for every attempt, which a cancel must not stop.
class one_shared_worker : public execution_hooks {
public:
  caf::expected<worker_actor> get_worker_instance(caf::actor_system& sys, const worker_registry&, const attempt_info&,
                                                  const task&) override {
    if (!worker)
      worker = caf::actor_cast<worker_actor>(sys.spawn(slow_shared_worker));
    return worker;
  }
  void stop_attempt(fleet_manager_actor::pointer, const worker_actor&, const std::string&) override {
    ++stops;
  }
  worker_actor worker;
  int stops = 0;
};

} // namespace

TEST_CASE("hooks that share one long-lived worker: a cancel stops the attempt, not the worker") {
  fleet_fixture f;
  auto hooks = std::make_shared<one_shared_worker>();
  f.set_hooks(hooks);
  // A type whose worker fleetd takes per attempt: here the hooks do the sharing.
  f.registry().add("echo", [](caf::actor_system& sys) { return sys.spawn(echo_worker); });
  f.start();
  auto first = f.submit_ok({make_task("a", "echo"), make_task("b", "echo")});
  f.advance(500);
  auto cancelled = f.ask<bool>(cancel_atom::value, first);
  REQUIRE(cancelled);
  CHECK(*cancelled);
  CHECK(hooks->stops == 2);
  auto second = f.submit_ok({make_task("c", "echo")});
  REQUIRE(f.advance_until([&] { return f.finished(second); }));
  auto rs = f.results_of(second);
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].success);
  // The same worker: it answered the cancelled attempts too (those answers were dropped), then this.
  CHECK(rs[0].result == "3");
  CHECK(f.status_of(first).status == batch_state::cancelled);
  CHECK(f.status_of(first).completed == 0);
}
