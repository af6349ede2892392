#include "fleetd/error.hpp"
#include "fleet/node_config.hpp"
#include "fleet/node_table.hpp"
#include "load_options.hpp"

#include <caf/settings.hpp>
#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace fleet;

namespace {

node_announcement node(std::string name, std::vector<std::string> types, int32_t capacity) {
  return {std::move(name), std::move(types), capacity, {}};
}

caf::error load_node_config(node_config& cfg, std::vector<std::string> args) {
  return test::load_from_args(cfg, "fleet-node", std::move(args));
}

} // namespace

TEST_CASE("a join is checked: name, types and capacity") {
  CHECK_FALSE(node_table::validate(node("gpu-1.rack_2", {"echo"}, 4)));
  auto refused = [](const node_announcement& a, const std::string& expected) {
    auto err = node_table::validate(a);
    REQUIRE(err);
    CHECK(err == errc::invalid_node);
    CHECK_MESSAGE(error_text(err).find(expected) != std::string::npos, error_text(err));
  };
  refused(node("", {"echo"}, 1), "a node name has 1 to 64 characters");
  refused(node("bad name", {"echo"}, 1), "(got \"bad name\")");
  refused(node("n\xff", {"echo"}, 1), "a node name has 1 to 64 characters");
  refused(node("n", {"echo", "bad\ntype"}, 1), "types are UTF-8 text without control characters");
  refused(node("n", {"caf\xe9"}, 1), "types are UTF-8 text without control characters");
  refused(node(std::string(65, 'x'), {"echo"}, 1), "a node name has 1 to 64 characters");
  refused(node("local", {"echo"}, 1), "stands for fleetd's own workers");
  refused(node("n", {}, 1), "must offer 1 to 100 task types (got 0)");
  refused(node("n", {""}, 1), "a task type of 0 bytes");
  refused(node("n", {"echo"}, 0), "capacity of 1 to 10000 (got 0)");
  refused(node("n", {"echo"}, 10'001), "capacity of 1 to 10000 (got 10001)");
  // What a node reports it stopped at its start goes into the audit: bounded and well-formed.
  auto with_orphans = [](std::vector<stopped_orphan> stopped) {
    auto a = node("n", {"echo"}, 1);
    a.stopped_orphans = std::move(stopped);
    return a;
  };
  CHECK_FALSE(node_table::validate(with_orphans({{"w-1", 42, 1, "SIGTERM"}, {"pool p", 43, 1, "SIGKILL"}})));
  refused(with_orphans({{"", 42, 1, "SIGTERM"}}), "labels are 1 to 256 bytes of UTF-8");
  refused(with_orphans({{"w\xff", 42, 1, "SIGTERM"}}), "labels are 1 to 256 bytes of UTF-8");
  refused(with_orphans({{std::string(257, 'w'), 42, 1, "SIGTERM"}}), "labels are 1 to 256 bytes");
  refused(with_orphans({{"w-1", 0, 1, "SIGTERM"}}), "with pid 0 stopped by");
  refused(with_orphans({{"w-1", 42, 1, "gone"}}), "stopped by \"gone\": a pid above 0 and SIGTERM or SIGKILL");
  refused(with_orphans(std::vector<stopped_orphan>(max_stopped_orphans + 1, stopped_orphan{"w", 1, 1, "SIGKILL"})),
          "reports 20001 stopped programs: at most 20000");
}

TEST_CASE("placement: only nodes that run the type and have room, the least loaded first") {
  node_table t{{"echo", "sleep"}, 2};
  t.add(node("a", {"sleep", "gpu"}, 2), 100);
  // Everything idle: the local node wins the tie for the types it runs.
  CHECK(t.place("echo", 10) == "local");
  CHECK(t.place("sleep", 10) == "local");
  CHECK(t.place("gpu", 10) == "a");
  CHECK_FALSE(t.place("video", 10));
  CHECK(t.runs("gpu"));
  CHECK_FALSE(t.runs("video"));
  t.started("local");
  // local is half full, a is empty: a takes the next sleep.
  CHECK(t.place("sleep", 10) == "a");
  t.started("a");
  CHECK(t.place("sleep", 10) == "local");
  t.started("local");
  // local is full (its own capacity 2): echo has nowhere to go, sleep goes to a.
  CHECK_FALSE(t.place("echo", 10));
  CHECK(t.place("sleep", 10) == "a");
  t.started("a");
  CHECK_FALSE(t.place("sleep", 10));
  CHECK_FALSE(t.place("gpu", 10));
  t.finished("a");
  CHECK(t.place("gpu", 10) == "a");
  // The listing: local first, with its running attempts.
  auto nodes = t.list(500);
  REQUIRE(nodes.size() == 2);
  CHECK(nodes[0].name == "local");
  CHECK(nodes[0].running == 2);
  CHECK(nodes[0].last_heartbeat == 500);
  CHECK(nodes[1].name == "a");
  CHECK(nodes[1].running == 1);
  CHECK(nodes[1].types == std::vector<std::string>{"gpu", "sleep"});
  CHECK(t.all_types() == std::vector<std::string>{"echo", "gpu", "sleep"});
}

TEST_CASE("a local node without a limit of its own shares max_concurrent_workers, and capacity 0 runs nothing") {
  node_table unlimited{{"echo"}, -1};
  for (int i = 0; i < 9; ++i)
    unlimited.started("local");
  CHECK(unlimited.place("echo", 10) == "local");
  unlimited.started("local");
  CHECK_FALSE(unlimited.place("echo", 10));
  CHECK(unlimited.list(0)[0].capacity == -1);
  node_table none{{"echo"}, 0};
  CHECK_FALSE(none.place("echo", 10));
  none.add(node("n", {"echo"}, 1), 0);
  CHECK(none.place("echo", 10) == "n");
}

TEST_CASE("a node that joins again gets a new generation, and a removed one is forgotten") {
  node_table t{{"echo"}, -1};
  auto first = t.add(node("a", {"echo"}, 1), 0);
  CHECK(t.generation("a") == first);
  CHECK(t.remove("a"));
  CHECK(t.generation("a") == 0);
  CHECK_FALSE(t.remove("a"));
  CHECK_FALSE(t.remove("local"));
  auto second = t.add(node("a", {"echo"}, 1), 0);
  CHECK(second != first);
  CHECK(t.remote_count() == 1);
  t.heartbeat("a", 42);
  CHECK(t.list(0)[1].last_heartbeat == 42);
}

TEST_CASE("fleet-node's options are checked") {
  {
    node_config cfg;
    REQUIRE_FALSE(load_node_config(cfg, {"--node.name=n1", "--node.types=sleep, echo", "--node.capacity=3"}));
    CHECK(cfg.options.name == "n1");
    CHECK(cfg.options.types == std::vector<std::string>{"sleep", "echo"});
    CHECK(cfg.options.capacity == 3);
  }
  auto refused = [](std::vector<std::string> args, const std::string& expected) {
    node_config cfg;
    auto err = load_node_config(cfg, args);
    REQUIRE(err);
    CHECK_MESSAGE(error_text(err).find(expected) != std::string::npos, error_text(err));
  };
  refused({"--node.capacity=0"}, "node.capacity must be between 1 and 10000 (got 0)");
  refused({"--node.drain-timeout=-1"}, "node.drain-timeout must be between 0 and 3600000");
  refused({"--node.fleetd-port=0"}, "node.fleetd-port must be between 1 and 65535");
  refused({"--node.bogus=1"}, "unknown option --node.bogus");
  refused({"--node.capacity=many"}, "--node.capacity must be an integer");
  refused({"--node.log-level=loud"}, "node.log-level must be");
}

TEST_CASE("fleet-node runs CAF's work-sharing scheduler unless told otherwise") {
  auto policy = [](const node_config& cfg) {
    return caf::get_or(cfg.content, "scheduler.policy", caf::atom("unset"));
  };
  node_config plain;
  REQUIRE_FALSE(load_node_config(plain, {"--node.name=n1"}));
  CHECK(policy(plain) == caf::atom("sharing"));
  node_config stealing;
  REQUIRE_FALSE(load_node_config(stealing, {"--node.name=n1", "--scheduler.policy=stealing"}));
  CHECK(policy(stealing) == caf::atom("stealing"));
}

TEST_CASE("fleet-node runs one scheduler thread, a node of one's own one per core, unless told otherwise") {
  auto threads = [](const node_config& cfg) { return caf::get_or(cfg.content, "scheduler.max-threads", size_t{0}); };
  node_config builtin{node_threads::one};
  REQUIRE_FALSE(load_node_config(builtin, {"--node.name=n1"}));
  CHECK(threads(builtin) == 1);
  node_config told{node_threads::one};
  REQUIRE_FALSE(load_node_config(told, {"--node.name=n1", "--scheduler.max-threads=3"}));
  CHECK(threads(told) == 3);
  node_config own;
  REQUIRE_FALSE(load_node_config(own, {"--node.name=n1"}));
  CHECK(threads(own) == 0); // not set: CAF's default, a thread per core (at least 4)
  // No thread at all would run nothing, not even the drain on SIGTERM.
  node_config none{node_threads::one};
  auto err = load_node_config(none, {"--node.name=n1", "--scheduler.max-threads=0"});
  REQUIRE(err);
  CHECK(error_text(err) == "scheduler.max-threads must be between 1 and 1024 (got 0)");
}
