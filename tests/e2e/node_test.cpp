// fleetd with fleet-node processes on loopback: placement by type, a node killed or paused
// mid-batch, a name taken twice, bad node options.

#include "fleetd_process.hpp"

#include <csignal>
#include <fstream>
#include <set>

using namespace fleet::test;

namespace {

/// Sleep tasks s0.. of `ms` each and echo tasks e0.., as JSON Lines.
std::string write_tasks(fleetd_process& d, int sleeps, int ms, int echoes) {
  auto path = d.file("tasks.jsonl");
  std::ofstream out{path};
  for (int i = 0; i < sleeps; ++i)
    out << R"({"id":"s)" << i << R"(","type":"sleep","data":{"ms":)" << ms << "}}\n";
  for (int i = 0; i < echoes; ++i)
    out << R"({"id":"e)" << i << R"(","type":"echo","data":{"i":)" << i << "}}\n";
  return path;
}

std::set<std::string> node_names(fleetd_process& d) {
  std::set<std::string> out;
  for (const auto& n : d.ctl_json({"nodes"}))
    out.insert(n.at("name").get<std::string>());
  return out;
}

bool nodes_are(fleetd_process& d, std::set<std::string> expected) {
  return node_names(d) == expected;
}

/// Every task finished once, successfully: one succeeded attempt each, never two.
void check_exactly_once(fleetd_process& d, const std::string& batch, int64_t tasks) {
  CHECK(d.query_int("SELECT count(*) FROM tasks WHERE batch_id = '" + batch + "' AND state = 'succeeded'") == tasks);
  CHECK(d.query_int("SELECT count(*) FROM attempts WHERE outcome = 'succeeded'") == tasks);
  CHECK(d.query_int("SELECT count(DISTINCT task_seq) FROM attempts WHERE outcome = 'succeeded'") == tasks);
  CHECK(integrity_check(d.db()) == "ok");
}

} // namespace

TEST_CASE("two fleet-nodes: one killed mid-batch, every task still finishes exactly once, types are respected") {
  fleetd_process d{"max-workers=12\nlocal-workers=0\nnode-heartbeat=200\nnode-timeout=3000\n"};
  REQUIRE(d.start());
  node_process a{d.port(), "node-a", "echo,sleep", 4};
  node_process b{d.port(), "node-b", "sleep", 4};
  a.start();
  b.start();
  REQUIRE_MESSAGE(eventually([&] { return nodes_are(d, {"local", "node-a", "node-b"}); }), (a.log() + b.log()));
  auto batch = d.submit(write_tasks(d, 40, 1000, 20));
  // node-b is busy with attempts of its own.
  REQUIRE(eventually([&] {
    return d.query_int("SELECT count(*) FROM attempts WHERE node = 'node-b' AND finished_at IS NULL") > 0;
  }));
  b.kill_hard();
  auto waited = d.ctl({"wait", batch});
  CHECK_MESSAGE(waited.exit_code == 0, (waited.out + waited.err));
  check_exactly_once(d, batch, 60);
  // Echo only on node-a; node-b's running attempts were interrupted and ran again on node-a.
  CHECK(d.query_int("SELECT count(*) FROM attempts a JOIN tasks t ON t.seq = a.task_seq "
                    "WHERE t.type = 'echo' AND a.node IS NOT 'node-a'") == 0);
  CHECK(d.query_int("SELECT count(*) FROM attempts WHERE node IS NULL") == 0);
  CHECK(d.query_int("SELECT count(*) FROM attempts WHERE node = 'node-b' AND outcome = 'interrupted'") > 0);
  CHECK(d.query_int("SELECT count(*) FROM attempts WHERE node = 'node-b' AND finished_at IS NULL") == 0);
  CHECK(d.query_int("SELECT retries FROM batches") == 0);
  CHECK(d.query_int("SELECT count(*) FROM events WHERE kind = 'node_dropped' AND detail LIKE '%node-b%'") == 1);
  CHECK(eventually([&] { return nodes_are(d, {"local", "node-a"}); }));
  // active_workers and fleetctl workers name the node of each worker.
  auto workers = d.ctl_json({"workers"});
  REQUIRE_FALSE(workers.empty());
  for (const auto& w : workers)
    CHECK(w.at("node") != "local");
  auto table = d.ctl({"workers"});
  CHECK(table.out.find("NODE") != std::string::npos);
  CHECK(table.out.find("node-a") != std::string::npos);
  auto listing = d.ctl({"nodes"});
  CHECK(listing.out.find("LAST HEARTBEAT") != std::string::npos);
  CHECK(listing.out.find("echo,sleep") != std::string::npos);
}

TEST_CASE("a paused fleet-node is dropped after node-timeout, its work runs elsewhere, and it joins again") {
  fleetd_process d{"max-workers=8\nlocal-workers=0\nnode-heartbeat=300\nnode-timeout=1500\n"};
  REQUIRE(d.start());
  node_process a{d.port(), "node-a", "sleep", 2};
  node_process b{d.port(), "node-b", "sleep", 2};
  a.start();
  b.start();
  REQUIRE(eventually([&] { return nodes_are(d, {"local", "node-a", "node-b"}); }));
  auto batch = d.submit(write_tasks(d, 12, 500, 0));
  REQUIRE(eventually([&] {
    return d.query_int("SELECT count(*) FROM attempts WHERE node = 'node-b' AND finished_at IS NULL") > 0;
  }));
  b.signal(SIGSTOP);
  REQUIRE(eventually([&] { return d.log().find("node node-b dropped (no answer to a heartbeat") != std::string::npos; }));
  auto waited = d.ctl({"wait", batch});
  CHECK_MESSAGE(waited.exit_code == 0, (waited.out + waited.err));
  check_exactly_once(d, batch, 12);
  CHECK(d.query_int("SELECT count(*) FROM attempts WHERE node = 'node-b' AND outcome = 'interrupted'") > 0);
  b.signal(SIGCONT);
  CHECK_MESSAGE(eventually([&] { return nodes_are(d, {"local", "node-a", "node-b"}); }), b.log());
  // The join is listed at once, its event once committed.
  CHECK(eventually([&] {
    return d.query_int("SELECT count(*) FROM events WHERE kind = 'node_joined' AND detail LIKE '%node-b%'") == 2;
  }));
  CHECK(b.log().find("joining again") != std::string::npos);
}

TEST_CASE("SIGTERM drains a fleet-node: its running attempts finish there, it gets no more, and it leaves") {
  fleetd_process d{"max-workers=8\nlocal-workers=0\nnode-heartbeat=200\nnode-timeout=3000\n"};
  REQUIRE(d.start());
  node_process a{d.port(), "node-a", "sleep", 2};
  a.add_args({"--node.drain-timeout=60000"});
  a.start();
  REQUIRE(eventually([&] { return nodes_are(d, {"local", "node-a"}); }));
  auto batch = d.submit(write_tasks(d, 6, 3000, 0));
  REQUIRE(eventually([&] {
    return d.query_int("SELECT count(*) FROM attempts WHERE node = 'node-a' AND finished_at IS NULL") == 2;
  }));
  a.signal(SIGTERM);
  CHECK(eventually([&] { return d.ctl({"nodes"}).out.find("draining") != std::string::npos; }));
  CHECK(a.wait_exit() == 0); // after the drain
  CHECK(a.log().find("drained: every attempt of this node finished") != std::string::npos);
  CHECK(eventually([&] { return nodes_are(d, {"local"}); }));
  CHECK(d.query_int("SELECT count(*) FROM attempts WHERE node = 'node-a'") == 2);
  CHECK(d.query_int("SELECT count(*) FROM attempts WHERE node = 'node-a' AND outcome = 'succeeded'") == 2);
  CHECK(eventually([&] {
    return d.query_int("SELECT count(*) FROM events WHERE kind = 'node_dropped' AND detail LIKE '%after draining%'") == 1;
  }));
  node_process b{d.port(), "node-b", "sleep", 4};
  b.start();
  auto waited = d.ctl({"wait", batch});
  CHECK_MESSAGE(waited.exit_code == 0, (waited.out + waited.err));
  check_exactly_once(d, batch, 6);
  CHECK(d.query_int("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'") == 0);
}

TEST_CASE("a second SIGTERM stops a draining fleet-node at once") {
  fleetd_process d{"max-workers=8\nlocal-workers=0\nnode-heartbeat=200\nnode-timeout=3000\n"};
  REQUIRE(d.start());
  node_process a{d.port(), "node-a", "sleep", 2};
  a.add_args({"--node.drain-timeout=600000"});
  a.start();
  REQUIRE(eventually([&] { return nodes_are(d, {"local", "node-a"}); }));
  auto batch = d.submit(write_tasks(d, 2, 600'000, 0));
  REQUIRE(eventually([&] {
    return d.query_int("SELECT count(*) FROM attempts WHERE node = 'node-a' AND finished_at IS NULL") == 2;
  }));
  a.signal(SIGTERM);
  REQUIRE(eventually([&] { return a.log().find("draining: no new attempts") != std::string::npos; }));
  CHECK(a.terminate() == 0);
  CHECK(a.log().find("stopping at once") != std::string::npos);
  CHECK(eventually([&] {
    return d.query_int("SELECT count(*) FROM attempts WHERE node = 'node-a' AND outcome = 'interrupted'") == 2;
  }));
  CHECK(d.ctl({"cancel", batch}).exit_code == 0);
}

TEST_CASE("a drain that runs out of time stops the node's attempts, which run again elsewhere") {
  fleetd_process d{"max-workers=8\nlocal-workers=0\nnode-heartbeat=200\nnode-timeout=3000\n"};
  REQUIRE(d.start());
  node_process a{d.port(), "node-a", "sleep", 2};
  a.add_args({"--node.drain-timeout=100"});
  a.start();
  REQUIRE(eventually([&] { return nodes_are(d, {"local", "node-a"}); }));
  auto batch = d.submit(write_tasks(d, 2, 60'000, 0));
  REQUIRE(eventually([&] {
    return d.query_int("SELECT count(*) FROM attempts WHERE node = 'node-a' AND finished_at IS NULL") == 2;
  }));
  CHECK(a.terminate() == 0);
  CHECK(a.log().find("drain timeout: stopping 2 attempts") != std::string::npos);
  CHECK(eventually([&] {
    return d.query_int("SELECT count(*) FROM attempts WHERE node = 'node-a' AND outcome = 'interrupted'") == 2;
  }));
  CHECK(d.query_int("SELECT count(*) FROM tasks WHERE batch_id = '" + batch + "' AND state = 'pending'") == 2);
  CHECK(d.ctl({"cancel", batch}).exit_code == 0);
}

TEST_CASE("a second fleet-node under a taken name waits until the first is gone, and bad node options are refused") {
  fleetd_process d{"node-heartbeat=200\nnode-timeout=2000\n"};
  REQUIRE(d.start());
  node_process first{d.port(), "same", "echo", 1};
  first.start();
  REQUIRE(eventually([&] { return nodes_are(d, {"local", "same"}); }));
  node_process second{d.port(), "same", "sleep", 1};
  second.start();
  REQUIRE_MESSAGE(eventually([&] {
                    return second.log().find("another fleet-node process is joined as same") != std::string::npos;
                  }),
                  second.log());
  // The first keeps its place: echo is still what "same" runs.
  auto nodes = d.ctl_json({"nodes"});
  REQUIRE(nodes.size() == 2);
  CHECK(nodes[1].at("types") == nlohmann::json::array({"echo"}));
  first.kill_hard();
  REQUIRE_MESSAGE(eventually([&] {
                    auto ns = d.ctl_json({"nodes"});
                    return ns.size() == 2 && ns[1].at("types") == nlohmann::json::array({"sleep"});
                  }),
                  second.log());
  CHECK(second.terminate() == 0);
  CHECK(eventually([&] { return nodes_are(d, {"local"}); }));

  auto refused = [](std::vector<std::string> args, const std::string& expected) {
    args.insert(args.begin(), bin("fleet-node"));
    auto r = run(args);
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find(expected) != std::string::npos, r.err);
  };
  refused({"--node.capacity=0"}, "node.capacity must be between 1 and 10000 (got 0)");
  refused({"--node.name=local"}, "stands for fleetd's own workers");
  refused({"--node.name=has space"}, "a node name has 1 to 64 characters");
  refused({"--node.types=video"}, "node.types: unknown task type \"video\"");
  refused({"--node.types=echo,video"}, "unknown task type \"video\"");
  refused({"--node.types=exec"}, "node.exec-allow names no program");
  refused({"--node.drain-timeout=9999999"}, "node.drain-timeout must be between 0 and 3600000");
  refused({"--node.fleetd-host=10.1.2.3"}, "a remote fleetd needs TLS");
}

TEST_CASE("kill -9 of fleetd while a fleet-node works: the node's attempts run on, and the restarted fleetd takes "
          "their outcomes") {
  fleetd_process d{"max-workers=8\nlocal-workers=0\nnode-heartbeat=200\nnode-timeout=10000\n"};
  REQUIRE(d.start());
  node_process a{d.port(), "node-a", "sleep", 4};
  a.start();
  REQUIRE(eventually([&] { return nodes_are(d, {"local", "node-a"}); }));
  auto batch = d.submit(write_tasks(d, 8, 1500, 0));
  REQUIRE(eventually([&] {
    return d.query_int("SELECT count(*) FROM attempts WHERE node = 'node-a' AND finished_at IS NULL") == 4;
  }));
  d.kill_hard();
  REQUIRE(d.start());
  auto waited = d.ctl({"wait", batch});
  CHECK_MESSAGE(waited.exit_code == 0, (waited.out + waited.err + a.log()));
  check_exactly_once(d, batch, 8);
  // Nothing ran twice: the four attempts that were running when fleetd died are their tasks'
  // only ones, whether they ended while fleetd was away or after it came back.
  CHECK(d.query_int("SELECT count(*) FROM attempts") == 8);
  CHECK(d.query_int("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'") == 0);
  CHECK(d.query_int("SELECT max(attempts) FROM tasks") == 1);
  CHECK(d.log().find("4 attempts were running on 1 fleet-nodes (node-a)") != std::string::npos);
  CHECK_MESSAGE(a.log().find("attempts run on") != std::string::npos, a.log());
}

TEST_CASE("a fleet-node with rejoin-window=0 stops its attempts when it loses fleetd, and they run again") {
  fleetd_process d{"max-workers=8\nlocal-workers=0\nnode-heartbeat=200\nnode-timeout=1000\n"};
  REQUIRE(d.start());
  node_process a{d.port(), "node-a", "sleep", 4};
  a.add_args({"--node.rejoin-window=0"});
  a.start();
  REQUIRE(eventually([&] { return nodes_are(d, {"local", "node-a"}); }));
  auto batch = d.submit(write_tasks(d, 4, 30'000, 0));
  REQUIRE(eventually([&] {
    return d.query_int("SELECT count(*) FROM attempts WHERE node = 'node-a' AND finished_at IS NULL") == 4;
  }));
  d.kill_hard();
  REQUIRE(d.start());
  // The node comes back without them: fleetd runs them again at once rather than after the wait.
  REQUIRE_MESSAGE(eventually([&] {
    return d.query_int("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'"
                       " AND error LIKE '%node node-a rejoined without the attempt%'") == 4;
  }), (d.log() + a.log()));
  CHECK(a.log().find("stopping 4 running attempts") != std::string::npos);
  d.ctl({"cancel", batch});
}
