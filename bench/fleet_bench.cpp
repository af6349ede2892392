// fleet-bench: drives a running fleetd through the client library and prints one line per
// measurement, in the format of ../shared/peers (system=... workload=... n=... c=... tasks_per_s=...).
//
//   fleet-bench run   --port P --pid PID --n N --c C --workload noop|queues|sleep1ms|sleep40ms|flaky|pool|execpy
//                     (queues: noop over 100 queues and 10,000 groups, with limits that never bind)
//                     [--queues N]      (queues, queues-only: N queues instead of 100, up to 999)
//                     [--worker FILE]   (pool: type pynoop, served by a [pool.*] of fleetd's config;
//                                        execpy: `exec` of python3 FILE --once per task)
//                     [--chunk N]       (tasks per message: the client library's 10,000 by default,
//                                        a bigger submit goes as an upload; N >= --n: one submit)
//   fleet-bench first-dispatch --port P --since-ms T   (ms since epoch when fleetd was started)
//   fleet-bench submit --port P --n N --workload sleep1s   (submits and returns: for kill -9 runs)
//   fleet-bench ping --port P                              (exit 0 once fleetd answers)

#include "fleetd/client.hpp"
#include "fleetd/error.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace fleet;
using clock_type = std::chrono::steady_clock;

namespace {

std::map<std::string, std::string> parse_args(int argc, char** argv) {
  std::map<std::string, std::string> out;
  for (int i = 2; i + 1 < argc; i += 2)
    out[std::string{argv[i]}.substr(2)] = argv[i + 1];
  return out;
}

std::vector<task> make_tasks(const std::string& workload, int64_t n, const std::string& worker, int queues) {
  auto exec_data = fmt::format(R"({{"argv":["python3","{}","--once"]}})", worker);
  std::vector<task> tasks;
  tasks.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto id = std::to_string(i);
    if (workload == "noop")
      tasks.push_back({id, "echo", "{}", 0});
    else if (workload == "sleep1ms")
      tasks.push_back({id, "sleep", R"({"ms":1})", 0});
    else if (workload == "sleep40ms")
      tasks.push_back({id, "sleep", R"({"ms":40})", 0});
    else if (workload == "sleep1s")
      tasks.push_back({id, "sleep", R"({"ms":1000})", 0});
    else if (workload == "pool")
      tasks.push_back({id, "pynoop", "{}", 0});
    else if (workload == "execpy")
      tasks.push_back({id, "exec", exec_data, 0});
    else if (workload == "queues" || workload == "queues-only" || workload == "groups-only") {
      // 100 queues (or --queues) and 10,000 groups (fleet-bench makes the queues first); the two
      // halves apart show which of them costs what.
      tasks.push_back({id, "echo", "{}", 0});
      if (workload != "groups-only")
        tasks.back().queue = fmt::format("q{}", i % queues);
      if (workload != "queues-only")
        tasks.back().group = fmt::format("g{}", i % 10'000);
    } else if (workload == "flaky")
      tasks.push_back(i % 10 == 0 ? task{id, "fail", R"({"times":1})", 0} : task{id, "echo", "{}", 0});
  }
  return tasks;
}

double peak_rss_mb(const std::string& pid) {
  std::ifstream in{"/proc/" + pid + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0)
      return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  return -1;
}

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: fleet-bench run|first-dispatch|submit --port P ...\n");
    return 2;
  }
  std::string mode = argv[1];
  auto args = parse_args(argc, argv);
  auto arg = [&](const std::string& k, const std::string& dflt) {
    auto i = args.find(k);
    return i == args.end() ? dflt : i->second;
  };
  // Every number is read before the actor system starts, so that a bad one ends the program
  // with a message rather than an exception through CAF's threads.
  std::string bad_number;
  auto number = [&](const std::string& k, int64_t dflt, int64_t lo, int64_t hi) {
    auto text = arg(k, std::to_string(dflt));
    int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value < lo || value > hi) {
      if (bad_number.empty())
        bad_number = fmt::format("--{} must be a whole number in {}..{}, not \"{}\"", k, lo, hi, text);
      return dflt;
    }
    return value;
  };
  auto port = static_cast<uint16_t>(number("port", 4242, 1, 65535));
  auto since = number("since-ms", 0, 0, INT64_MAX);
  auto n = number("n", 100000, 1, 100'000'000);
  auto c = static_cast<int>(number("c", 16, 1, 100'000));
  auto queues = static_cast<int>(number("queues", 100, 1, 999)); // fleetd keeps 1,000 by default
  auto chunk = static_cast<size_t>(number("chunk", 10000, 1, 10'000'000));
  if (!bad_number.empty()) {
    fmt::print(stderr, "fleet-bench: {}\n", bad_number);
    return 2;
  }
  caf::actor_system_config cfg;
  configure_client(cfg);
  run_client_on_one_thread(cfg);
  caf::actor_system sys{cfg};

  if (mode == "ping") {
    auto client = fleet_client::connect(sys, "127.0.0.1", port, std::chrono::seconds(5));
    return client && client->stats() ? 0 : 1;
  }

  if (mode == "first-dispatch") {
    // Polls until fleetd answers and reports a running worker; prints ms since fleetd started.
    for (;;) {
      auto client = fleet_client::connect(sys, "127.0.0.1", port, std::chrono::seconds(60));
      if (client) {
        for (;;) {
          auto ws = client->active_workers();
          if (ws && std::any_of(ws->begin(), ws->end(), [](const worker_info& w) {
                return w.status == worker_status::active || w.status == worker_status::spawning
                       || w.completed_at != 0;
              })) {
            fmt::print("system=fleetd workload=restart-first-dispatch first_dispatch_ms={}\n", wall_ms() - since);
            return 0;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  auto client = fleet_client::connect(sys, "127.0.0.1", port, std::chrono::minutes(10));
  if (!client) {
    fmt::print(stderr, "fleet-bench: {}\n", error_text(client.error()));
    return 2;
  }
  auto workload = arg("workload", "noop");
  if (auto scaled = client->scale_workers(c); !scaled) {
    fmt::print(stderr, "fleet-bench: {}\n", error_text(scaled.error()));
    return 2;
  }
  if (workload.rfind("queues", 0) == 0) {
    // Limits that never bind at this concurrency: what is measured is their bookkeeping.
    for (int q = 0; q < queues; ++q) {
      queue_change change;
      change.weight = 1 + q % 5;
      change.group_max_workers = 4;
      change.max_workers = 1000;
      if (auto made = client->set_queue(fmt::format("q{}", q), change); !made) {
        fmt::print(stderr, "fleet-bench: {}\n", error_text(made.error()));
        return 2;
      }
    }
  }
  auto tasks = make_tasks(workload, n, arg("worker", ""), queues);
  auto t0 = clock_type::now();
  auto id = client->submit_batch(std::move(tasks), chunk);
  if (!id) {
    fmt::print(stderr, "fleet-bench: {}\n", error_text(id.error()));
    return 2;
  }
  auto submit_ms = ms_since(t0);
  if (mode == "submit") {
    fmt::print("system=fleetd workload=submit n={} submit_s={:.2f} batch={}\n", n, submit_ms / 1000, *id);
    return 0;
  }
  // While it runs: how long status, stats and active_workers take to answer.
  double status_max = 0, stats_max = 0, workers_max = 0;
  std::vector<double> status_ms;
  std::vector<double> all_ms; // every query, for the share above 5 ms
  for (;;) {
    auto q0 = clock_type::now();
    auto st = client->batch_status(*id);
    auto q1 = ms_since(q0);
    if (!st) {
      fmt::print(stderr, "fleet-bench: {}\n", error_text(st.error()));
      return 2;
    }
    if (st->finished_at != 0)
      break;
    status_ms.push_back(q1);
    status_max = std::max(status_max, q1);
    q0 = clock_type::now();
    client->stats();
    auto stats_ms = ms_since(q0);
    stats_max = std::max(stats_max, stats_ms);
    q0 = clock_type::now();
    client->active_workers();
    auto workers_ms = ms_since(q0);
    workers_max = std::max(workers_max, workers_ms);
    all_ms.insert(all_ms.end(), {q1, stats_ms, workers_ms});
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto total_ms = ms_since(t0);
  std::sort(status_ms.begin(), status_ms.end());
  auto p50 = status_ms.empty() ? 0.0 : status_ms[status_ms.size() / 2];
  std::sort(all_ms.begin(), all_ms.end());
  auto p99 = all_ms.empty() ? 0.0 : all_ms[all_ms.size() * 99 / 100];
  auto over_5ms = std::count_if(all_ms.begin(), all_ms.end(), [](double ms) { return ms >= 5.0; });
  fmt::print("system=fleetd workload={} n={} c={} tasks_per_s={:.0f} submit_s={:.2f} total_s={:.2f} "
             "peak_rss_mb={:.1f} status_ms_p50={:.2f} status_ms_max={:.2f} stats_ms_max={:.2f} "
             "workers_ms_max={:.2f} queries={} query_ms_p99={:.2f} queries_over_5ms={}\n",
             workload, n, c, static_cast<double>(n) / (total_ms / 1000.0), submit_ms / 1000,
             total_ms / 1000, peak_rss_mb(arg("pid", "0")), p50, status_max, stats_max, workers_max,
             all_ms.size(), p99, over_5ms);
  return 0;
}
