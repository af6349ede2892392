// exec runs real programs, so these tests use the real scheduler and wait for replies
// (with generous deadlines that only matter if something hangs).

#include "actors/builtin_workers.hpp"
#include "actors/interfaces.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>

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
    auto worker = (*registry.find("exec"))(*sys);
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
