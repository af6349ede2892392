// Worker pools declared in fleetd's config file: real processes speaking docs/WORKER-PROTOCOL.md.

#include "fleetd_process.hpp"
#include "protocol_worker.hpp"

#include <map>
#include <set>

using namespace fleet::test;

TEST_CASE("fleetd runs a configured pool: tasks go to its long-lived processes, a crash fails only its attempt") {
  temp_dir dir;
  auto script = dir.file("worker.sh");
  write_file(script, protocol_worker_sh);
  fleetd_process d{"max-retries=1\n[pool.shell]\nargv=[\"sh\", \"" + script + "\"]\ntypes=[\"shecho\", \"boom\"]\nsize=2\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  auto tasks = d.file("tasks.jsonl");
  std::string lines;
  for (int i = 0; i < 30; ++i)
    lines += R"({"id": "e)" + std::to_string(i) + R"(", "type": "shecho", "data": {"i": )" + std::to_string(i) + "}}\n";
  lines += R"({"id": "boom", "type": "boom"})" "\n";
  write_file(tasks, lines);
  auto id = d.submit(tasks);
  d.ctl({"wait", id});
  CHECK(d.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded'") == 30);
  std::set<int64_t> pids;
  for (const auto& r : d.ctl_json({"results", id}))
    if (r["task_id"] != "boom")
      pids.insert(r["result"]["pid"].get<int64_t>());
  CHECK(pids.size() <= 4); // two processes, perhaps replaced once each after the crashes
  CHECK(d.query_int("SELECT count(*) FROM attempts a JOIN tasks t ON t.seq = a.task_seq "
                    "WHERE t.task_id = 'boom' AND a.error LIKE '%exited with code 7 during the attempt%'") == 2);
  CHECK(d.log().find("pool shell: 2 processes of sh for shecho,boom") != std::string::npos);
  CHECK(d.log().find("ready") != std::string::npos); // stderr goes to fleetd's log
  CHECK(d.terminate() == 0);
}

TEST_CASE("a pool worker's progress shows in fleetctl workers while its attempt runs, and stays with the attempt") {
  temp_dir dir;
  auto script = dir.file("worker.sh");
  write_file(script, protocol_worker_sh);
  fleetd_process d{"[pool.shell]\nargv=[\"sh\", \"" + script + "\"]\ntypes=[\"slow\"]\nsize=1\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  auto release = dir.file("release");
  auto tasks = d.file("tasks.jsonl");
  write_file(tasks, R"({"id": "s", "type": "slow", "data": {"release": ")" + release + "\"}}\n");
  auto id = d.submit(tasks);
  nlohmann::json shown;
  CHECK(eventually([&] {
    for (const auto& w : d.ctl_json({"workers"}))
      if (w["task_id"] == "s" && w["status"] == "active" && w["progress"] == 0.25)
        shown = w;
    return !shown.is_null();
  }));
  CHECK(shown["note"] == "half way there");
  auto table = d.ctl({"workers"});
  CHECK(table.out.find("25% half way there") != std::string::npos);
  write_file(release, "");
  d.ctl({"wait", id});
  auto after = d.ctl_json({"workers"});
  REQUIRE(after.size() == 1);
  CHECK(after[0]["status"] == "completed");
  CHECK(after[0]["progress"] == 0.25);
  CHECK(d.terminate() == 0);
}

TEST_CASE("a fleet-node runs a pool of its own: fleetd places the pool's types there, with progress") {
  temp_dir dir;
  auto script = dir.file("worker.sh");
  write_file(script, protocol_worker_sh);
  fleetd_process d{"local-workers=0\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  node_process node{d.port(), "pool-node", "shecho,slow", 4};
  node.use_config("[node]\n[pool.shell]\nargv=[\"sh\", \"" + script + "\"]\ntypes=[\"shecho\", \"slow\"]\nsize=2\n");
  node.start();
  REQUIRE_MESSAGE(eventually([&] {
    for (const auto& n : d.ctl_json({"nodes"}))
      if (n["name"] == "pool-node")
        return true;
    return false;
  }), node.log());
  auto release = dir.file("release");
  auto tasks = d.file("tasks.jsonl");
  std::string lines = R"({"id": "slow", "type": "slow", "data": {"release": ")" + release + "\"}}\n";
  for (int i = 0; i < 10; ++i)
    lines += R"({"id": "e)" + std::to_string(i) + R"(", "type": "shecho"})" "\n";
  write_file(tasks, lines);
  auto id = d.submit(tasks);
  nlohmann::json shown;
  CHECK(eventually([&] {
    for (const auto& w : d.ctl_json({"workers"}))
      if (w["task_id"] == "slow" && w["progress"] == 0.25)
        shown = w;
    return !shown.is_null();
  }));
  CHECK(shown["node"] == "pool-node");
  CHECK(shown["note"] == "half way there");
  write_file(release, "");
  d.ctl({"wait", id});
  CHECK(d.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded'") == 11);
  CHECK(d.query_int("SELECT count(*) FROM attempts WHERE node = 'pool-node'") == 11);
  CHECK(node.log().find("pool shell: 2 processes of sh for shecho,slow") != std::string::npos);
  CHECK(node.terminate() == 0);
  CHECK(d.terminate() == 0);
}

TEST_CASE("bad pool and exec sections of a fleet-node are refused with the key") {
  node_process node{free_port(), "bad-pool", "shecho", 1};
  node.use_config("[pool.shell]\nargv=\"sh\"\ntypes=[\"shecho\"]\n");
  node.start();
  CHECK(node.wait_exit() == 2);
  CHECK_MESSAGE(node.log().find("pool.shell.argv") != std::string::npos, node.log());
  node_process sandboxed{free_port(), "bad-exec", "echo", 1};
  sandboxed.use_config("[exec]\nmax-cpu-seconds=\"soon\"\n");
  sandboxed.start();
  CHECK(sandboxed.wait_exit() == 2);
  CHECK_MESSAGE(sandboxed.log().find("exec.max-cpu-seconds must be a whole number") != std::string::npos,
                sandboxed.log());
}

namespace {

/// A pool of one of the example workers (examples/workers/LANGUAGE/example_worker.*), with the
/// same tasks and checks for every language.
void check_example_worker(const std::string& interpreter, const std::string& script) {
  if (run({"sh", "-c", "command -v " + interpreter}).exit_code != 0) {
    MESSAGE(interpreter << " is not installed: skipped");
    return;
  }
  fleetd_process d{"max-retries=0\n[pool.example]\nargv=[\"" + interpreter + "\", \"" + std::string{FLEET_SOURCE_DIR}
                   + "/examples/workers/" + script + "\"]\ntypes=[\"wordcount\", \"shout\"]\nsize=2\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  auto tasks = d.file("tasks.jsonl");
  write_file(tasks, R"({"id": "w", "type": "wordcount", "data": {"text": "to be or not to be"}})" "\n"
                    R"({"id": "s", "type": "shout", "data": {"text": "caf\u00e9"}})" "\n"
                    R"({"id": "bad", "type": "wordcount", "data": {"words": 1}})" "\n"
                    R"({"id": "then", "type": "shout", "data": {"text": "x"}, "after": ["w"]})" "\n");
  auto id = d.submit(tasks);
  d.ctl({"wait", id});
  auto results = d.results_by_task(id);
  REQUIRE(results.size() == 4);
  CHECK(results["w"]["result"]["words"] == 6);
  CHECK(results["s"]["result"]["text"] == "CAF\u00c9");
  CHECK(results["s"]["result"]["attempt"] == 1);
  CHECK(results["s"]["result"]["after"] == nlohmann::json::object());
  CHECK(results["then"]["result"]["after"]["w"]["words"] == 6); // the protocol's "deps"
  CHECK(results["bad"]["success"] == false);
  CHECK(results["bad"]["error"] == "needs {\"text\": STRING}");
  CHECK(d.query_int("SELECT count(*) FROM attempts") == 4); // the refusal was not retried
  CHECK(d.terminate() == 0);
}

} // namespace

TEST_CASE("the Python helper: a pool of examples/workers/python/example_worker.py") {
  check_example_worker("python3", "python/example_worker.py");
}

TEST_CASE("the Python helper answers requests that arrive together in one write, never behind a new type") {
  auto r = run({"python3", std::string{FLEET_SOURCE_DIR} + "/tests/python/fleet_worker_batches.py"});
  CHECK_MESSAGE(r.exit_code == 0, r.out << r.err);
}

TEST_CASE("the Node.js helper: a pool of examples/workers/node/example_worker.js, where node is installed") {
  check_example_worker("node", "node/example_worker.js");
}
