#pragma once

#include "fleetd/worker.hpp"

namespace fleet {

/// The worker of one attempt of a task function: runs `run` on a thread of its own and replies
/// its outcome. When the worker is stopped first (cancel, timeout, shutdown), the function's
/// context reports cancelled and whatever it returns later is dropped.
worker_actor spawn_function_worker(caf::actor_system& sys, task_function run, attempt_info info);

} // namespace fleet
