// Task functions (worker_registry::add_function) run on threads of their own, so these tests use
// the real scheduler and wait for replies (deadlines only matter if something hangs).

#include "fleet_fixture.hpp"
#include "fleetd/error.hpp"
#include "fleetd/interfaces.hpp"
#include "fleetd/worker.hpp"

#include <caf/actor_system.hpp>
#include <caf/after.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cmath>
#include <chrono>
#include <future>
#include <optional>
#include <stdexcept>
#include <thread>

using namespace fleet;
using json = nlohmann::json;

namespace {

struct function_fixture {
  caf::actor_system_config cfg;
  std::optional<caf::actor_system> sys;
  worker_registry registry;

  function_fixture() {
    register_fleet_types(cfg);
    sys.emplace(cfg);
  }

  worker_actor spawn(const task& t, attempt_info info = {"w-1", 1, 0}) {
    auto worker = registry.spawn(*sys, t, info);
    REQUIRE(worker);
    return *worker;
  }

  caf::expected<task_outcome> run(const task& t, int32_t attempt = 1, attempt_info info = {"w-1", 1, 0}) {
    auto worker = spawn(t, info);
    caf::scoped_actor self{*sys};
    std::optional<caf::expected<task_outcome>> out;
    self->request(worker, std::chrono::seconds(60), execute_atom::value, t, attempt)
      .receive([&](task_outcome& o) { out = std::move(o); }, [&](caf::error& err) { out = std::move(err); });
    return std::move(*out);
  }
};

/// Waits (really) until `done()`, for at most a minute: only a hang makes this slow.
template <class Predicate>
bool wait_for(Predicate done) {
  for (int i = 0; i < 6000 && !done(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return done();
}

} // namespace

TEST_CASE("a task function gets the task's data and context and answers its result") {
  function_fixture f;
  std::optional<json> seen;
  f.registry.add_function("sum", [&](const task_context& ctx, const json& data) -> caf::expected<json> {
    seen = json{{"task", ctx.task_id()},  {"type", ctx.type()},          {"attempt", ctx.attempt()},
                {"worker", ctx.worker_id()}, {"cancelled", ctx.cancelled()}, {"priority", ctx.priority()}};
    CHECK(ctx.remaining() > std::chrono::milliseconds(0));
    ctx.info("adding up");
    return json{{"sum", data.at("a").get<int>() + data.at("b").get<int>()}};
  });
  auto deadline = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch() + std::chrono::minutes(5))
                    .count();
  auto out = f.run(task{"t1", "sum", R"({"a": 2, "b": 40})", 7}, 3, {"w-9", 3, deadline});
  REQUIRE(out);
  CHECK(out->success);
  CHECK(json::parse(out->result) == json{{"sum", 42}});
  REQUIRE(seen);
  CHECK(*seen == json{{"task", "t1"}, {"type", "sum"}, {"attempt", 3}, {"worker", "w-9"}, {"cancelled", false},
                      {"priority", 7}});
  CHECK(f.registry.contains("sum"));
  CHECK(f.registry.checker()(task{"t", "sum", "{}", 0}, json::object()) == caf::none);
}

TEST_CASE("a task function's errors and exceptions fail the attempt: invalid_task for good, others retried") {
  function_fixture f;
  f.registry.add_function("permanent", [](const task_context&, const json&) -> caf::expected<json> {
    return caf::make_error(errc::invalid_task, "this data can never work");
  });
  f.registry.add_function("transient", [](const task_context& ctx, const json&) -> caf::expected<json> {
    return caf::make_error(errc::worker_failed, "upstream busy, attempt " + std::to_string(ctx.attempt()));
  });
  f.registry.add_function("throws", [](const task_context&, const json&) -> caf::expected<json> {
    throw std::runtime_error("out of cheese");
  });
  f.registry.add_function("echo", [](const task_context&, const json& data) -> caf::expected<json> { return data; });
  auto permanent = f.run(task{"p", "permanent", "{}", 0});
  REQUIRE(permanent);
  CHECK_FALSE(permanent->success);
  CHECK_FALSE(permanent->retry);
  CHECK(permanent->error.find("this data can never work") != std::string::npos);
  auto transient = f.run(task{"t", "transient", "{}", 0}, 2, {"w", 2, 0});
  REQUIRE(transient);
  CHECK_FALSE(transient->success);
  CHECK(transient->retry);
  CHECK(transient->error.find("upstream busy, attempt 2") != std::string::npos);
  auto thrown = f.run(task{"x", "throws", "{}", 0});
  REQUIRE(thrown);
  CHECK_FALSE(thrown->success);
  CHECK(thrown->retry);
  CHECK(thrown->error == "the task function threw: out of cheese");
  // Data that is not JSON never reaches the function (the fleet checks it at submit; this is the
  // worker's own guard).
  auto broken = f.run(task{"b", "echo", "{not json", 0});
  REQUIRE(broken);
  CHECK_FALSE(broken->success);
  CHECK_FALSE(broken->retry);
  auto not_utf8 = f.run(task{"n", "echo", "{\"s\": \"\xff\"}", 0});
  REQUIRE(not_utf8);
  CHECK_FALSE(not_utf8->success);
  // A result with bytes that are not UTF-8 comes back replaced, never as invalid JSON.
  f.registry.add_function("latin1", [](const task_context&, const json&) -> caf::expected<json> {
    return json{{"s", std::string{"caf\xe9"}}};
  });
  auto latin1 = f.run(task{"l", "latin1", "{}", 0});
  REQUIRE(latin1);
  CHECK(latin1->success);
  CHECK(json::parse(latin1->result).at("s") == "caf\xef\xbf\xbd");
}

TEST_CASE("a stopped worker tells its function that it was cancelled, and a late result goes nowhere") {
  function_fixture f;
  std::atomic<bool> saw_cancel{false};
  std::promise<void> release;
  auto released = release.get_future().share();
  f.registry.add_function("watchful", [&](const task_context& ctx, const json&) -> caf::expected<json> {
    while (!ctx.cancelled())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    saw_cancel = true;
    return json{{"late", true}};
  });
  f.registry.add_function("stubborn", [released](const task_context&, const json&) -> caf::expected<json> {
    released.wait(); // never looks at its context
    return json{{"late", true}};
  });
  for (const char* type : {"watchful", "stubborn"}) {
    CAPTURE(type);
    auto worker = f.spawn(task{"c", type, "{}", 0});
    caf::scoped_actor self{*f.sys};
    self->monitor(worker);
    // The request is sent for its effect (an attempt in progress); its answer never comes.
    static_cast<void>(self->request(worker, caf::infinite, execute_atom::value, task{"c", type, "{}", 0}, int32_t{1}));
    caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
    bool down = false;
    self->receive([&](caf::down_msg&) { down = true; });
    CHECK(down); // the worker stops at once, whatever its function does
  }
  CHECK(wait_for([&] { return saw_cancel.load(); }));
  release.set_value(); // the stubborn one returns into a worker that is gone: nothing happens
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

// On the deterministic scheduler: the manager's timeout, with a function that never sends anything.
TEST_CASE("a task function that never returns fails as timed out, and its context says cancelled") {
  std::promise<void> release; // after the fleet is gone: the function's thread outlives it
  std::atomic<bool> saw_cancel{false};
  {
    auto cfg = test::fleet_fixture::small_config();
    cfg.worker_timeout_ms = 100;
    cfg.retry_failed_tasks = false;
    test::fleet_fixture f{cfg};
    auto released = release.get_future().share();
    f.registry().add_function("stuck", [&saw_cancel, released](const task_context& ctx, const nlohmann::json&)
                                         -> caf::expected<nlohmann::json> {
      while (!ctx.cancelled())
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      saw_cancel = true;
      released.wait();
      return nlohmann::json{{"too", "late"}};
    });
    f.start();
    auto id = f.submit_ok({test::make_task("s", "stuck")});
    REQUIRE(f.advance_until([&] { return f.finished(id); }, 10'000, 10));
    auto rs = f.results_of(id);
    REQUIRE(rs.size() == 1);
    CHECK_FALSE(rs[0].success);
    CHECK(rs[0].error == "worker timed out after 100 ms");
    for (int i = 0; i < 6000 && !saw_cancel; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(saw_cancel);
  }
  release.set_value();
}

TEST_CASE("a task function's progress goes to the coordinator in its worker's name, NaN ignored, clamped") {
  function_fixture f;
  f.registry.add_function("steps", [](const task_context& ctx, const json&) -> caf::expected<json> {
    ctx.progress(std::nan(""), "ignored");
    ctx.progress(0.3, "thirty");
    ctx.progress(7.0, "clamped");
    return json{{"done", true}};
  });
  caf::scoped_actor coordinator{*f.sys};
  attempt_info info{"w-7", 1, 0, caf::actor_cast<coordinator_actor>(coordinator), "b-1"};
  auto t = test::make_task("t", "steps");
  auto worker = f.spawn(t, info);
  caf::scoped_actor self{*f.sys};
  self->send(worker, execute_atom::value, t, int32_t{1});
  std::vector<std::pair<double, std::string>> seen;
  for (int i = 0; i < 2; ++i)
    coordinator->receive(
      [&](progress_atom, const std::string& worker_id, double fraction, const std::string& note) {
        CHECK(worker_id == "w-7");
        CHECK(coordinator->current_sender() == caf::actor_cast<caf::strong_actor_ptr>(worker));
        seen.emplace_back(fraction, note);
      },
      caf::after(std::chrono::seconds(60)) >> [&] { FAIL("no progress reported"); });
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == std::pair<double, std::string>{0.3, "thirty"});
  CHECK(seen[1] == std::pair<double, std::string>{1.0, "clamped"});
}
