#pragma once

#include "actors/worker.hpp"

#include <functional>

namespace fleet {

/// fleetd's whole life: options, database, recovery, the published manager, the drain on
/// SIGTERM. `add_task_types` registers task types beside the built-in ones (the e2e tests add
/// one that crashes the process). Returns the exit status.
int fleetd_main(int argc, char** argv, const std::function<void(worker_registry&)>& add_task_types = {});

} // namespace fleet
