// The crash loop (issue 5, issue 22): a mixed workload across several batches (a third of the
// tasks run after another of their batch, some after a result too big to come with their row)
// while fleetd is killed at random moments (kill -9, sometimes SIGTERM), restarted, and killed
// again, with a fleet-node, a worker pool and a recurring schedule in the fleet; the node now and
// then dies with fleetd, the database turns read-only for a while, and fleetd's wall clock steps
// back and forth.
// Then every invariant of the promise "an acknowledged task is never lost and a finished result is
// never recorded twice" is checked straight from the SQLite file.
//
// CI runs the short form. The long form: scripts/crash-loop.sh CYCLES SEED (or the environment
// variables FLEET_CRASHLOOP_CYCLES and FLEET_CRASHLOOP_SEED for this test). FLEET_CRASHLOOP_KEEP=FILE
// keeps a copy of the final database there, for a look at a failure.

#include "client_system.hpp"
#include "fault_injection.hpp"
#include "fleetd_process.hpp"
#include "protocol_worker.hpp"
#include "store_invariants.hpp"

#include "fleetd/client.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <cstdlib>
#include <map>
#include <random>
#include <sstream>
#include <string>

using namespace fleet;
using namespace fleet::test;

namespace {

constexpr int max_retries = 2;

int env_int(const char* name, int fallback) {
  auto value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::atoi(value) : fallback;
}

/// One task of the mix: echo, sleep (now and then past worker_timeout), fail (some recover on a
/// retry, some never do), exec (a real program, some exiting non-zero) and a task for the worker
/// pool. The fleet-node runs echo, sleep and exec too, so those land on either side.
task random_task(std::mt19937& rng, const std::string& id) {
  auto pick = std::uniform_int_distribution<int>{0, 99}(rng);
  auto priority = std::uniform_int_distribution<int>{0, 3}(rng);
  if (pick < 32)
    return {id, "echo", fmt::format(R"({{"n": {}}})", pick), priority};
  if (pick < 40)
    return {id, "shecho", fmt::format(R"({{"n": {}}})", pick), priority};
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
  int node_kills = 0, read_only_windows = 0, clock_steps = 0;
  int64_t tasks_acked = 0;
};

/// What one cycle does besides the client's work, at ms after fleetd's start: in time order.
struct timed_fault {
  int at_ms;
  std::function<void()> act;
};

void run_faults(std::vector<timed_fault> faults) {
  std::stable_sort(faults.begin(), faults.end(), [](const auto& a, const auto& b) { return a.at_ms < b.at_ms; });
  auto start = std::chrono::steady_clock::now();
  for (auto& f : faults) {
    std::this_thread::sleep_until(start + std::chrono::milliseconds(f.at_ms));
    f.act();
  }
}

/// Batches the schedule "tick" made.
int64_t tick_batches(const std::string& db) {
  return query_db_int(db, "SELECT count(*) FROM batches WHERE client_key LIKE 'schedule:tick@%'");
}

} // namespace

TEST_CASE("crash loop: fleetd killed at random moments loses no acknowledged task and records no result twice") {
  auto cycles = env_int("FLEET_CRASHLOOP_CYCLES", 12);
  auto seed = env_int("FLEET_CRASHLOOP_SEED", 1);
  temp_dir scripts;
  auto pool_script = scripts.file("worker.sh");
  write_file(pool_script, protocol_worker_sh);
  fleetd_process d(fmt::format("max-workers=4\nworker-timeout=2000\nretry-failed-tasks=true\n"
                               "max-retries={}\ndrain-timeout=300\nbackoff-base=10\nbackoff-cap=100\n"
                               "node-heartbeat=200\nnode-timeout=2000\n"
                               "[pool.shell]\nargv=[\"sh\", \"{}\"]\ntypes=[\"shecho\"]\nsize=2\n"
                               "[schedule.tick]\nevery=\"1s\"\ntasks=\"[{{\\\"type\\\":\\\"echo\\\"}}]\"\n",
                               max_retries, pool_script));
  clock_stepper clock{d};
  read_only_switch read_only{d};
  if (!clock.available())
    MESSAGE("libfaketime is not installed (Debian's faketime): the loop does not step fleetd's clock");
  if (!read_only.available())
    MESSAGE("the temp directory takes no immutable attribute (not root, or tmpfs): the loop does not make "
            "the database read-only");
  node_process node{d.port(), "n1", "echo,sleep,exec", 3};
  node.add_args({"--node.exec-allow=sh"});
  bool node_running = false;
  client_system client_sys;
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::map<std::string, size_t> acked; // batch id -> tasks, for every submit fleetd acknowledged
  std::vector<std::string> batch_ids;
  loop_figures fig;
  int task_counter = 0;
  int64_t highest_offset = 0;
  auto began = std::chrono::steady_clock::now();
  for (int cycle = 0; cycle < cycles; ++cycle) {
    REQUIRE_MESSAGE(d.start(), d.log());
    ++fig.cycles;
    if (!node_running) {
      node.start();
      node_running = true;
    }
    auto client = fleet_client::connect(client_sys.sys, "127.0.0.1", d.port(), std::chrono::seconds(3));
    REQUIRE_MESSAGE(client, error_text(client.error()));
    // The signal lands wherever fleetd happens to be: in a submit, a group commit, a cancel, a
    // scale, a node's attempt, a pool's, a schedule's firing, or while its database takes no writes.
    // Now and then a longer cycle, long enough for fleetd to notice a clock step while it runs.
    auto delay_ms = std::uniform_int_distribution<int>{0, 7}(rng) == 0 ? std::uniform_int_distribution<int>{1500, 3000}(rng)
                                                                        : std::uniform_int_distribution<int>{20, 800}(rng);
    auto terminate = std::uniform_int_distribution<int>{0, 4}(rng) == 0;
    auto with_node = !terminate && std::uniform_int_distribution<int>{0, 3}(rng) == 0;
    std::vector<timed_fault> faults;
    if (read_only.available() && std::uniform_int_distribution<int>{0, 5}(rng) == 0) {
      auto from = std::uniform_int_distribution<int>{0, delay_ms}(rng);
      auto until = from + std::uniform_int_distribution<int>{200, 1000}(rng);
      faults.push_back({from, [&] { read_only.set(true); }});
      if (until < delay_ms)
        faults.push_back({until, [&] { read_only.set(false); }});
      ++fig.read_only_windows;
    }
    if (clock.available() && std::uniform_int_distribution<int>{0, 3}(rng) == 0) {
      static constexpr int64_t offsets[] = {-3600, -120, 0, 120, 3600};
      auto to = offsets[std::uniform_int_distribution<size_t>{0, std::size(offsets) - 1}(rng)];
      highest_offset = std::max(highest_offset, to);
      faults.push_back({std::uniform_int_distribution<int>{0, delay_ms}(rng), [&clock, to] { clock.step_to(to); }});
      ++fig.clock_steps;
    }
    std::atomic<bool> signalled{false};
    faults.push_back({delay_ms, [&, pid = d.pid()] {
                        ::kill(pid, terminate ? SIGTERM : SIGKILL);
                        if (with_node)
                          node.signal(SIGKILL);
                        signalled = true;
                      }});
    std::thread killer{run_faults, std::move(faults)};
    while (!signalled) {
      auto op = std::uniform_int_distribution<int>{0, 9}(rng);
      if (op < 6 || batch_ids.empty()) {
        std::vector<task> tasks;
        auto n = std::uniform_int_distribution<int>{1, 60}(rng);
        for (int i = 0; i < n; ++i) {
          auto t = random_task(rng, "t" + std::to_string(++task_counter));
          // Some tasks echo 70 KB: a task after one gets results too big to come with its row,
          // read when its attempt starts.
          if (std::uniform_int_distribution<int>{0, 19}(rng) == 0)
            t = {t.id, "echo", R"({"pad":")" + std::string(70'000, 'p') + R"("})", t.priority};
          // A third run after a task earlier in the batch: chains and fan-ins, whose releases
          // and skips the signal lands in too.
          if (i > 0 && std::uniform_int_distribution<int>{0, 2}(rng) == 0)
            t.after = {tasks[std::uniform_int_distribution<size_t>{0, tasks.size() - 1}(rng)].id};
          tasks.push_back(std::move(t));
        }
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
    if (with_node) {
      node.wait_exit();
      node_running = false;
      ++fig.node_kills;
    }
    read_only.set(false); // a disk fixed before the restart; a restart on a read-only one is database_file_test's
  }
  // The last start runs everything to the end, then a clean stop. fleetd comes back with its clock
  // right, whatever it read before.
  clock.step_to(0);
  REQUIRE_MESSAGE(d.start(), d.log());
  if (!node_running)
    node.start();
  {
    auto client = fleet_client::connect(client_sys.sys, "127.0.0.1", d.port(), std::chrono::seconds(30));
    REQUIRE(client);
    REQUIRE(client->scale_workers(8));
    // A long run leaves a backlog of many thousand tasks: what must hold is that work goes on
    // until every batch finished, not that it finishes within a fixed time. A retry whose backoff
    // was left on a clock that stepped would stall it by an hour.
    auto ended_tasks = [&] {
      auto st = client->stats();
      return st ? st->completed_tasks + st->failed_tasks + st->cancelled_tasks : int64_t{-1};
    };
    auto last_ended = ended_tasks();
    auto last_progress = std::chrono::steady_clock::now();
    auto wait_until_finished = [&](const std::string& id) {
      while (true) {
        auto st = client->batch_status(id);
        if (st && st->finished_at != 0)
          return;
        if (auto ended = ended_tasks(); ended != last_ended) {
          last_ended = ended;
          last_progress = std::chrono::steady_clock::now();
        }
        if (std::chrono::steady_clock::now() - last_progress >= std::chrono::seconds(120)) {
          auto log = d.log();
          FAIL("no task ended for 120 s while batch " << id << " was unfinished; its unfinished tasks: "
               << query_db_text(d.db(), "SELECT group_concat(task_id || ' ' || state || ' attempts ' || attempts "
                                        "|| ' not_before ' || coalesce(not_before, '-'), '; ') FROM tasks "
                                        "WHERE batch_id = '" + id + "' AND state NOT IN ('succeeded', 'failed', 'cancelled')")
               << "\nfleetd's log ends:\n" << log.substr(log.size() > 6000 ? log.size() - 6000 : 0));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    };
    for (const auto& [id, n] : acked)
      wait_until_finished(id);
    // The schedule still fires after every crash and step: past the latest slot it took (a clock
    // that stepped back waits for it) it takes the next.
    auto ticks = tick_batches(d.db());
    clock.step_to(highest_offset + 60);
    CHECK_MESSAGE(eventually([&] { return tick_batches(d.db()) > ticks; }, 60), d.log());
    REQUIRE(client->pause_schedule("tick"));
    for (const auto& id : query_db_texts(d.db(), "SELECT id FROM batches WHERE finished_at IS NULL"))
      wait_until_finished(id);
  }
  CHECK(d.terminate() == 0);
  CHECK(node.terminate() == 0);
  auto elapsed_s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - began).count();
  auto ticks = tick_batches(d.db());
  auto refused_writes = d.count_in_log("the database cannot take writes");
  auto resumed_writes = d.count_in_log("the database takes writes again");
  auto steps_seen = d.count_in_log("the wall clock stepped by");
  // A read-only disk is a passing condition, never taken for damage (which would stop fleetd
  // writing until an operator looked).
  CHECK(d.count_in_log("fleetd writes nothing more into it") == 0);
  MESSAGE(fmt::format("fleetd's log: {} times the database refused writes, {} times it took them again, "
                      "{} clock steps followed", refused_writes, resumed_writes, steps_seen));
  // A group commit that failed and went back to be written again is where an attempt's end could
  // pass its start (the order 21a1b3f keeps for a disk that refuses writes): its lines are shown,
  // so that a broken invariant below comes with them.
  std::string failed_commits, not_for_storage;
  std::istringstream log_lines{d.log()};
  for (std::string line; std::getline(log_lines, line);) {
    if (line.find("commit failed") == std::string::npos)
      continue;
    failed_commits += "\n  " + line;
    // The read-only windows refuse writes; anything else (a constraint, a second start of one
    // attempt) is a bug in fleetd, even when the invariants below still hold.
    if (line.find("disk I/O error") == std::string::npos && line.find("readonly") == std::string::npos
        && line.find("unable to open") == std::string::npos && line.find("disk is full") == std::string::npos)
      not_for_storage += "\n  " + line;
  }
  MESSAGE("fleetd's log: group commits that failed:" << (failed_commits.empty() ? std::string{" none"} : failed_commits));
  CHECK_MESSAGE(not_for_storage.empty(), "group commits failed for another reason than the read-only disk:"
                                           << not_for_storage);
  MESSAGE(fmt::format("crash loop: seed {}, {} cycles, {} kill -9 ({} with the node), {} SIGTERM, {} submits "
                      "acknowledged ({} tasks), {} submits cut off, {} cancels, {} scales, {} read-only windows, "
                      "{} clock steps, {} scheduled batches, {} s",
                      seed, fig.cycles, fig.kills, fig.node_kills, fig.terms, fig.submits_acked, fig.tasks_acked,
                      fig.submits_lost, fig.cancels, fig.scales, fig.read_only_windows, fig.clock_steps, ticks,
                      elapsed_s));

  const auto& db = d.db();
  if (auto keep = std::getenv("FLEET_CRASHLOOP_KEEP")) // for a look at a failure
    std::filesystem::copy_file(db, keep, std::filesystem::copy_options::overwrite_existing);
  // Every acknowledged batch is there, whole.
  for (const auto& [id, n] : acked)
    CHECK_MESSAGE(query_db_int(db, fmt::format("SELECT count(*) FROM tasks WHERE batch_id = '{}'", id))
                    == static_cast<int64_t>(n),
                  "acknowledged batch " << id);
  check_store_invariants(db, max_retries);
  CHECK(query_db_int(db, "SELECT count(*) FROM batches") >= static_cast<int64_t>(acked.size()));
  // Each task ran on the node, the pool or fleetd's own workers.
  CHECK(query_db_int(db, "SELECT count(*) FROM attempts WHERE node = 'n1'") > 0);
  CHECK(query_db_int(db, "SELECT count(*) FROM attempts a JOIN tasks t ON t.seq = a.task_seq "
                         "WHERE t.type = 'shecho' AND a.outcome = 'succeeded'") > 0);
  // Durations are measured on the monotonic clock: no step shows in them (2 s worker_timeout, and
  // ample room for a loaded machine).
  CHECK(query_db_text(db, "SELECT coalesce(group_concat(task_id || ' ' || type || ' ' || state || ' ' || duration_ms"
                         " || ' ' || coalesce(error, ''), '; '), 'none') FROM tasks"
                         " WHERE duration_ms < 0 OR duration_ms > 60000") == "none");
  // One batch per slot at most, whatever the steps and crashes: never a burst for the slots a
  // forward step or a downtime skipped.
  CHECK(ticks <= elapsed_s + fig.cycles + fig.clock_steps + 2);
}
