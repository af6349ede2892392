// The crash loop (issue 5): a mixed workload across several batches while fleetd is killed at
// random moments (kill -9, sometimes SIGTERM), restarted, and killed again; then every invariant
// of the promise "an acknowledged task is never lost and a finished result is never recorded
// twice" is checked straight from the SQLite file.
//
// CI runs the short form. The long form: scripts/crash-loop.sh CYCLES SEED (or the environment
// variables FLEET_CRASHLOOP_CYCLES and FLEET_CRASHLOOP_SEED for this test).

#include "fleetd_process.hpp"
#include "store_invariants.hpp"

#include "fleetd/client.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <fmt/format.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <random>

using namespace fleet;
using namespace fleet::test;

namespace {

constexpr int max_retries = 2;

int env_int(const char* name, int fallback) {
  auto value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::atoi(value) : fallback;
}

struct client_node {
  client_node() : sys(prepared(cfg)) {}
  static caf::actor_system_config& prepared(caf::actor_system_config& c) {
    configure_client(c);
    return c;
  }
  caf::actor_system_config cfg;
  caf::actor_system sys;
};

/// One task of the mix: echo, sleep (now and then past worker_timeout), fail (some recover on a
/// retry, some never do) and exec (a real program, some exiting non-zero).
task random_task(std::mt19937& rng, const std::string& id) {
  auto pick = std::uniform_int_distribution<int>{0, 99}(rng);
  auto priority = std::uniform_int_distribution<int>{0, 3}(rng);
  if (pick < 40)
    return {id, "echo", fmt::format(R"({{"n": {}}})", pick), priority};
  if (pick < 65) {
    auto ms = std::uniform_int_distribution<int>{0, 100}(rng) < 2 ? 2500 : pick % 30;
    return {id, "sleep", fmt::format(R"({{"ms": {}}})", ms), priority};
  }
  if (pick < 85)
    return {id, "fail", fmt::format(R"({{"times": {}}})", pick % 4), priority};
  if (pick < 92)
    return {id, "exec", R"({"argv": ["sh", "-c", "sleep 0.02"]})", priority};
  // Output that is not UTF-8 (issue 16: it took fleetd down at every restart).
  if (pick < 95)
    return {id, "exec", R"({"argv": ["sh", "-c", "printf 'a\\377\\303'"]})", priority};
  return {id, "exec", R"({"argv": ["sh", "-c", "exit 3"]})", priority};
}

struct loop_figures {
  int cycles = 0, kills = 0, terms = 0, submits_acked = 0, submits_lost = 0, cancels = 0, scales = 0;
  int64_t tasks_acked = 0;
};

} // namespace

TEST_CASE("crash loop: fleetd killed at random moments loses no acknowledged task and records no result twice") {
  auto cycles = env_int("FLEET_CRASHLOOP_CYCLES", 12);
  auto seed = env_int("FLEET_CRASHLOOP_SEED", 1);
  fleetd_process d(fmt::format("max-workers=4\nworker-timeout=2000\nretry-failed-tasks=true\n"
                               "max-retries={}\ndrain-timeout=300\nbackoff-base=10\nbackoff-cap=100\n",
                               max_retries));
  client_node node;
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::map<std::string, size_t> acked; // batch id -> tasks, for every submit fleetd acknowledged
  std::vector<std::string> batch_ids;
  loop_figures fig;
  int task_counter = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    REQUIRE_MESSAGE(d.start(), d.log());
    ++fig.cycles;
    auto client = fleet_client::connect(node.sys, "127.0.0.1", d.port(), std::chrono::seconds(3));
    REQUIRE_MESSAGE(client, error_text(client.error()));
    // The signal lands wherever fleetd happens to be: in a submit, a group commit, a cancel, a scale.
    auto delay_ms = std::uniform_int_distribution<int>{20, 800}(rng);
    auto terminate = std::uniform_int_distribution<int>{0, 4}(rng) == 0;
    std::atomic<bool> signalled{false};
    std::thread killer{[&, pid = d.pid()] {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      ::kill(pid, terminate ? SIGTERM : SIGKILL);
      signalled = true;
    }};
    while (!signalled) {
      auto op = std::uniform_int_distribution<int>{0, 9}(rng);
      if (op < 6 || batch_ids.empty()) {
        std::vector<task> tasks;
        auto n = std::uniform_int_distribution<int>{1, 60}(rng);
        for (int i = 0; i < n; ++i)
          tasks.push_back(random_task(rng, "t" + std::to_string(++task_counter)));
        // Small chunks: big submits go through the upload path (open, chunks, seal).
        auto chunk = std::uniform_int_distribution<int>{0, 1}(rng) == 0 ? size_t{16} : size_t{10'000};
        auto id = client->submit_batch(std::move(tasks), chunk);
        if (id) {
          acked[*id] = static_cast<size_t>(n);
          batch_ids.push_back(*id);
          ++fig.submits_acked;
          fig.tasks_acked += n;
        } else {
          ++fig.submits_lost;
        }
      } else if (op < 8) {
        auto& id = batch_ids[std::uniform_int_distribution<size_t>{0, batch_ids.size() - 1}(rng)];
        if (client->cancel_batch(id))
          ++fig.cancels;
      } else {
        if (client->scale_workers(std::uniform_int_distribution<int>{1, 6}(rng)))
          ++fig.scales;
      }
      // A client's pace, not a flood: the loop is about where the signal lands.
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>{5, 40}(rng)));
    }
    killer.join();
    d.wait_exit();
    ++(terminate ? fig.terms : fig.kills);
  }
  // The last start runs everything to the end, then a clean stop.
  REQUIRE_MESSAGE(d.start(), d.log());
  {
    auto client = fleet_client::connect(node.sys, "127.0.0.1", d.port(), std::chrono::seconds(30));
    REQUIRE(client);
    REQUIRE(client->scale_workers(8));
    // A long run leaves a backlog of many thousand tasks: what must hold is that work goes on
    // until every batch finished, not that it finishes within a fixed time.
    auto ended_tasks = [&] {
      auto st = client->stats();
      return st ? st->completed_tasks + st->failed_tasks + st->cancelled_tasks : int64_t{-1};
    };
    auto last_ended = ended_tasks();
    auto last_progress = std::chrono::steady_clock::now();
    for (const auto& [id, n] : acked) {
      while (true) {
        auto st = client->batch_status(id);
        if (st && st->finished_at != 0)
          break;
        if (auto ended = ended_tasks(); ended != last_ended) {
          last_ended = ended;
          last_progress = std::chrono::steady_clock::now();
        }
        REQUIRE_MESSAGE(std::chrono::steady_clock::now() - last_progress < std::chrono::seconds(120),
                        "no task ended for 120 s while batch " << id << " was unfinished");
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }
  CHECK(d.terminate() == 0);
  MESSAGE(fmt::format("crash loop: seed {}, {} cycles, {} kill -9, {} SIGTERM, {} submits acknowledged "
                      "({} tasks), {} submits cut off, {} cancels, {} scales",
                      seed, fig.cycles, fig.kills, fig.terms, fig.submits_acked, fig.tasks_acked,
                      fig.submits_lost, fig.cancels, fig.scales));

  const auto& db = d.db();
  // Every acknowledged batch is there, whole.
  for (const auto& [id, n] : acked)
    CHECK_MESSAGE(query_db_int(db, fmt::format("SELECT count(*) FROM tasks WHERE batch_id = '{}'", id))
                    == static_cast<int64_t>(n),
                  "acknowledged batch " << id);
  check_store_invariants(db, max_retries);
  CHECK(query_db_int(db, "SELECT count(*) FROM batches") >= static_cast<int64_t>(acked.size()));
}
