// Worker pools run real processes (a protocol worker written in sh): these tests use the real
// scheduler and wait for replies (deadlines only matter if something hangs).

#include "actors/worker_pool.hpp"
#include "protocol_worker.hpp"

#include "fleetd/error.hpp"
#include "fleetd/interfaces.hpp"

#include <caf/actor_system.hpp>
#include <caf/after.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <thread>
#include <unistd.h>

using namespace fleet;
using json = nlohmann::json;

namespace {

struct pool_fixture {
  caf::actor_system_config cfg;
  std::optional<caf::actor_system> sys;
  worker_registry registry;
  worker_pool_actor pool;
  int next = 0;

  explicit pool_fixture(int32_t size = 2, int32_t in_flight = 1) {
    register_fleet_types(cfg);
    sys.emplace(cfg);
    pool_spec spec;
    spec.name = "test";
    spec.argv = {"sh", "-c", test::protocol_worker_sh};
    spec.types = {"echo", "boom", "garbage", "liar", "hang", "fatal", "slow", "afterword"};
    spec.size = size;
    spec.in_flight = in_flight;
    spec.restart_base_ms = 10;
    pool = add_pool(*sys, registry, spec);
  }

  ~pool_fixture() {
    caf::anon_send_exit(pool, caf::exit_reason::user_shutdown);
  }

  worker_actor spawn(const std::string& type, std::string& worker_id) {
    worker_id = "w-" + std::to_string(++next);
    auto worker = registry.spawn(*sys, task{"t", type, "{}", 0}, attempt_info{worker_id, 1, 0, {}, "b1"});
    REQUIRE(worker);
    return *worker;
  }

  task_outcome run(const std::string& type) {
    std::string id;
    auto worker = spawn(type, id);
    caf::scoped_actor self{*sys};
    std::optional<task_outcome> out;
    self->request(worker, std::chrono::seconds(60), execute_atom::value, task{"t-" + id, type, R"({"x": [1, 2]})", 0},
                  int32_t{1})
      .receive([&](task_outcome& o) { out = std::move(o); },
               [&](caf::error& err) { FAIL("no outcome: " << error_text(err)); });
    return *out;
  }
};

} // namespace

TEST_CASE("a worker pool runs attempts on its long-lived processes over JSON Lines") {
  pool_fixture f;
  std::set<int64_t> pids;
  for (int i = 0; i < 6; ++i) {
    auto out = f.run("echo");
    REQUIRE_MESSAGE(out.success, out.error);
    pids.insert(json::parse(out.result).at("pid").get<int64_t>());
  }
  CHECK(pids.size() <= 2); // the pool's two processes, reused
  auto fatal = f.run("fatal");
  CHECK_FALSE(fatal.success);
  CHECK_FALSE(fatal.retry);
  CHECK(fatal.error == "bad input");
}

TEST_CASE("a pool replaces a process that breaks the protocol or dies, and fails only that attempt") {
  pool_fixture f;
  auto garbage = f.run("garbage");
  CHECK_FALSE(garbage.success);
  CHECK(garbage.retry);
  CHECK(garbage.error.find("the worker broke the protocol: a line that is not JSON") != std::string::npos);
  auto liar = f.run("liar");
  CHECK_FALSE(liar.success);
  CHECK(liar.error.find("it answered attempt \"w-nobody\", which it was not given") != std::string::npos);
  auto boom = f.run("boom");
  CHECK_FALSE(boom.success);
  CHECK(boom.error.find("exited with code 7 during the attempt") != std::string::npos);
  // The pool goes on: every later attempt succeeds on fresh or surviving processes.
  for (int i = 0; i < 4; ++i) {
    auto out = f.run("echo");
    CHECK_MESSAGE(out.success, out.error);
  }
}

TEST_CASE("lines that arrive together count in order: an answer stands, a break after it replaces the process") {
  pool_fixture f{1};
  auto answered = f.run("afterword");
  REQUIRE_MESSAGE(answered.success, answered.error);
  auto first = json::parse(answered.result).at("pid").get<int64_t>();
  // The break came in the same read as the answer: no later attempt reaches that process.
  auto next = f.run("echo");
  REQUIRE_MESSAGE(next.success, next.error);
  CHECK(json::parse(next.result).at("pid").get<int64_t>() != first);
}

TEST_CASE("an attempt the fleet gives up on kills its process, and the pool stays whole") {
  pool_fixture f;
  std::string hung_id;
  auto hung = f.spawn("hang", hung_id);
  caf::scoped_actor self{*f.sys};
  self->monitor(hung);
  self->send(hung, execute_atom::value, task{"h", "hang", "{}", 0}, int32_t{1});
  std::this_thread::sleep_for(std::chrono::milliseconds(200)); // let it reach a process
  caf::anon_send_exit(hung, caf::exit_reason::user_shutdown); // a cancel or timeout
  self->receive([](caf::down_msg&) {});
  // Both processes serve again: the hung one was killed and replaced.
  std::set<int64_t> pids;
  for (int i = 0; i < 6; ++i) {
    auto out = f.run("echo");
    REQUIRE_MESSAGE(out.success, out.error);
    pids.insert(json::parse(out.result).at("pid").get<int64_t>());
  }
  CHECK_FALSE(pids.empty());
}

TEST_CASE("with in-flight requests a process holds several, and those behind one that kills it run on another") {
  pool_fixture f{1, 3};
  caf::scoped_actor self{*f.sys};
  // One process, three attempts at once; whichever order they reach the pool in, the process
  // dies at "boom", the attempts answered before it succeeded, and those held in its stdin behind
  // it run on the process that replaces it.
  std::vector<std::string> types{"boom", "echo", "echo"};
  for (const auto& type : types) {
    std::string id;
    auto worker = f.spawn(type, id);
    self->send(worker, execute_atom::value, task{"t-" + id, type, "{}", 0}, int32_t{1});
  }
  std::vector<task_outcome> got;
  for (size_t i = 0; i < types.size(); ++i)
    self->receive([&](task_outcome& o) { got.push_back(std::move(o)); },
                  caf::after(std::chrono::seconds(60)) >> [&] { FAIL("an attempt got no outcome"); });
  REQUIRE(got.size() == 3);
  auto failed = std::count_if(got.begin(), got.end(), [](const task_outcome& o) { return !o.success; });
  CHECK(failed == 1);
  for (const auto& o : got)
    if (!o.success)
      CHECK(o.error.find("exited with code 7 during the attempt") != std::string::npos);
}

TEST_CASE("a held request the fleet stops is dropped without replacing the process working before it") {
  pool_fixture f{1, 2};
  auto release = std::filesystem::temp_directory_path() / ("fleet-pool-release-" + std::to_string(::getpid()));
  std::filesystem::remove(release);
  caf::scoped_actor self{*f.sys};
  std::string slow_id, held_id;
  auto slow = f.spawn("slow", slow_id);
  self->send(slow, execute_atom::value, task{"t-slow", "slow", R"({"release":")" + release.string() + "\"}", 0},
             int32_t{1});
  std::this_thread::sleep_for(std::chrono::milliseconds(200)); // the slow one first, then the held one
  auto held = f.spawn("echo", held_id);
  self->send(held, execute_atom::value, task{"t-held", "echo", "{}", 0}, int32_t{1});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  caf::anon_send_exit(held, caf::exit_reason::user_shutdown); // the fleet gives up on it
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::ofstream{release.string()} << "go";
  std::optional<task_outcome> out;
  self->receive([&](task_outcome& o) { out = std::move(o); },
                caf::after(std::chrono::seconds(60)) >> [&] { FAIL("the slow attempt got no outcome"); });
  REQUIRE(out);
  CHECK_MESSAGE(out->success, out->error); // its process was not replaced for the other's sake
  auto pid = json::parse(out->result).at("pid").get<int64_t>();
  auto next = f.run("echo");
  REQUIRE_MESSAGE(next.success, next.error);
  CHECK(json::parse(next.result).at("pid").get<int64_t>() == pid);
  std::filesystem::remove(release);
}
