// exec runs real programs, so these tests use the real scheduler and wait for replies
// (with generous deadlines that only matter if something hangs).

#include "actors/builtin_workers.hpp"
#include "actors/fleet_manager.hpp"
#include "fleetd/interfaces.hpp"
#include "fleetd/error.hpp"
#include "temp_dir.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <fstream>
#include <optional>
#include <thread>

using namespace fleet;

namespace {

struct exec_fixture {
  caf::actor_system_config cfg;
  std::optional<caf::actor_system> sys;
  worker_registry registry;
  exec_fixture() {
    register_fleet_types(cfg);
    sys.emplace(cfg);
    add_builtin_workers(registry);
  }
  task_outcome run(const std::string& data) {
    auto worker = *registry.spawn(*sys, task{"x", "exec", data, 0}, attempt_info{"w1", 1, 0});
    caf::scoped_actor self{*sys};
    task_outcome out;
    self->request(worker, std::chrono::seconds(60), execute_atom::value, task{"x", "exec", data, 0},
                  int32_t{1})
      .receive([&](task_outcome& o) { out = std::move(o); },
               [&](caf::error& err) { out = failure("request failed: " + to_string(err)); });
    return out;
  }
};

} // namespace

TEST_CASE("exec runs a program without a shell and returns its output") {
  exec_fixture f;
  auto out = f.run(R"({"argv": ["sh", "-c", "echo \"$GREETING\" world; echo oops >&2"], "env": {"GREETING": "hello"}})");
  REQUIRE(out.success);
  auto result = nlohmann::json::parse(out.result);
  CHECK(result["exit_code"] == 0);
  CHECK(result["stdout"] == "hello world\n");
  CHECK(result["stderr"] == "oops\n");
  auto literal = f.run(R"({"argv": ["echo", "$HOME; rm -rf /"]})");
  REQUIRE(literal.success);
  CHECK(nlohmann::json::parse(literal.result)["stdout"] == "$HOME; rm -rf /\n");
}

TEST_CASE("exec fails on a non-zero exit, a missing program, and its own timeout") {
  exec_fixture f;
  auto bad_exit = f.run(R"({"argv": ["sh", "-c", "echo broken >&2; exit 3"]})");
  CHECK_FALSE(bad_exit.success);
  CHECK(bad_exit.error == "sh exited with code 3: broken\n");
  auto missing = f.run(R"({"argv": ["/nonexistent/program"]})");
  CHECK_FALSE(missing.success);
  CHECK(missing.error.find("cannot start /nonexistent/program") != std::string::npos);
  auto slow = f.run(R"({"argv": ["sleep", "30"], "timeout_ms": 100})");
  CHECK_FALSE(slow.success);
  CHECK(slow.error == "sleep timed out after 100 ms");
}

namespace {

bool process_alive(pid_t pid) {
  return ::kill(pid, 0) == 0;
}

/// Polls `done` for up to 30 s: only a hang makes this slow, never a pass.
template <class Predicate>
bool eventually(Predicate done) {
  for (int i = 0; i < 3000; ++i) {
    if (done())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

} // namespace

TEST_CASE("worker_timeout stops an exec attempt and kills its program") {
  fleet::test::temp_dir dir;
  caf::actor_system_config cfg;
  register_fleet_types(cfg);
  caf::actor_system sys{cfg};
  auto store = fleet_store::open({dir.file("fleet.db"), "normal"});
  REQUIRE(store);
  auto registry = std::make_shared<worker_registry>();
  add_builtin_workers(*registry);
  fleet_manager_options opts;
  opts.store = std::move(*store);
  opts.registry = registry;
  opts.initial_config.worker_timeout_ms = 300;
  opts.initial_config.retry_failed_tasks = false;
  auto manager = spawn_fleet_manager(sys, std::move(opts));
  auto pid_file = dir.file("child.pid");
  task t{"slow", "exec",
         nlohmann::json{{"argv", {"sh", "-c", "echo $$ > " + pid_file + "; exec sleep 30"}}}.dump(), 0};
  caf::scoped_actor self{sys};
  std::string id;
  self->request(manager, std::chrono::seconds(30), submit_atom::value, std::vector<task>{t})
    .receive([&](std::string& x) { id = x; }, [&](caf::error& err) { FAIL(error_text(err)); });
  REQUIRE(eventually([&] { return std::ifstream{pid_file}.peek() != EOF; }));
  pid_t pid = 0;
  std::ifstream{pid_file} >> pid;
  REQUIRE(pid > 0);
  std::vector<task_result> results;
  REQUIRE(eventually([&] {
    self->request(manager, std::chrono::seconds(30), results_atom::value, id)
      .receive([&](std::vector<task_result>& rs) { results = rs; }, [&](caf::error&) {});
    return !results.empty();
  }));
  CHECK_FALSE(results[0].success);
  CHECK(results[0].error == "worker timed out after 300 ms");
  CHECK(eventually([&] { return !process_alive(pid); }));
  caf::anon_send_exit(manager, caf::exit_reason::user_shutdown);
}
