#pragma once

// fleetd as a library: a daemon of your own with your own task types and hooks, in-process.
//
//   int main(int argc, char** argv) {
//     fleet::daemon_extensions ext;
//     ext.add_task_types = [](fleet::worker_registry& r) { r.add("resize", spawn_resize_worker); };
//     return fleet::run_daemon(argc, argv, ext);
//   }
//
// Link fleetd::server. The options and config file are fleetd's (`--fleet.*`, `--config-file`).

#include "fleetd/autoscale.hpp"
#include "fleetd/worker.hpp"

#include <functional>
#include <memory>

namespace fleet {

/// What a daemon of your own adds to fleetd.
struct daemon_extensions {
  /// Registers task types beside the built-in ones (echo, sleep, fail, exec); may replace them.
  std::function<void(worker_registry&)> add_task_types;
  /// How a worker is got and an attempt run on it (the seed's getWorkerInstance and
  /// executeTaskOnWorker); null: the default, one fresh worker per attempt.
  std::shared_ptr<execution_hooks> hooks{};
  /// An auto-scaling policy of your own, asked every second (turns autoscaling on); null: the
  /// built-in one, when fleet.autoscale is on.
  autoscale_hook autoscale{};
};

/// fleetd's whole life: options, database, recovery, the published manager, TLS, the HTTP port,
/// the drain on SIGTERM. Returns the exit status.
int run_daemon(int argc, char** argv, const daemon_extensions& ext = {});

} // namespace fleet
