// A C++ program that uses fleetd from another CAF node: the seed's usage example.
// Connects, submits a batch, waits for fleetd's notification that it finished (showing progress
// meanwhile), prints results and the coordinator's summary.
//
// Build out of tree against an installed fleetd (see CMakeLists.txt beside this file), or in the
// source tree as target fleet-client-example. Run: fleet-client-example [HOST] [PORT]

#include <fleetd/client.hpp>
#include <fleetd/error.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  std::string host = argc > 1 ? argv[1] : "127.0.0.1";
  auto port = static_cast<uint16_t>(argc > 2 ? std::atoi(argv[2]) : 4242);

  caf::actor_system_config cfg;
  fleet::configure_client(cfg);          // fleetd's message types and CAF's middleman
  fleet::run_client_on_one_thread(cfg); // it only waits on fleetd: no polling threads
  caf::actor_system sys{cfg};

  auto fleet = fleet::fleet_client::connect(sys, host, port);
  if (!fleet) {
    fmt::print(stderr, "example: {}\n", fleet::error_text(fleet.error()));
    return 2;
  }

  std::vector<fleet::task> tasks{
    {"task-1", "echo", R"({"value": 1})", 1},
    {"task-2", "echo", R"({"value": 2})", 2},
    {"task-3", "sleep", R"({"ms": 200})", 0},
    {"task-4", "fail", R"({"times": 1, "error": "transient"})", 0},
  };
  auto batch_id = fleet->submit_batch(tasks);
  if (!batch_id) {
    fmt::print(stderr, "example: submit failed: {}\n", fleet::error_text(batch_id.error()));
    return 2;
  }
  fmt::print("Batch submitted: {}\n", *batch_id);

  // Told when it finishes; the status it had when the subscription arrived comes back at once.
  auto status = fleet->subscribe(*batch_id);
  while (status && status->finished_at == 0) {
    fmt::print("Progress: {:.0f}% ({})\n", status->progress * 100, to_string(status->status));
    if (auto done = fleet->next_notification(std::chrono::milliseconds(500)))
      status = std::move(*done);
    else
      status = fleet->batch_status(*batch_id);
  }
  if (!status) {
    fmt::print(stderr, "example: {}\n", fleet::error_text(status.error()));
    return 2;
  }
  fmt::print("Progress: {:.0f}% ({})\n", status->progress * 100, to_string(status->status));

  auto results = fleet->batch_results(*batch_id);
  if (!results) {
    fmt::print(stderr, "example: {}\n", fleet::error_text(results.error()));
    return 2;
  }
  for (const auto& r : *results)
    fmt::print("Result: {} {} {}\n", r.task_id, r.success ? "ok" : "failed", r.success ? r.result : r.error);

  auto stats = fleet->stats();
  auto summary = fleet->summary();
  if (stats && summary)
    fmt::print("Fleet: {} batches, {} tasks; success rate {:.1f}%, average {:.0f} ms\n",
               stats->total_batches, stats->total_tasks, summary->success_rate * 100,
               summary->average_duration_ms);
  return 0;
}
