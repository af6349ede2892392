#pragma once

// A worker pool: long-lived processes of any language that run attempts over JSON Lines
// (docs/WORKER-PROTOCOL.md), one attempt at a time per process.

#include "fleetd/interfaces.hpp"
#include "fleetd/worker.hpp"
#include "fleet/pool_spec.hpp"

#include <caf/fwd.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fleet {

using pool_run_atom = caf::atom_constant<caf::atom("poolrun")>;
using pool_abandon_atom = caf::atom_constant<caf::atom("poolgone")>;

/// What the attempts' workers ask of a pool.
using worker_pool_actor = caf::typed_actor<
  // Runs attempt N (worker id, batch id, deadline) on an idle process, waiting for one: its outcome.
  caf::replies_to<pool_run_atom, task, std::string, std::string, int32_t, int64_t, coordinator_actor>::with<task_outcome>,
  // The fleet gave up on the attempt (cancel, timeout): its process is killed and replaced.
  caf::reacts_to<pool_abandon_atom, std::string>>;

/// Starts the pool's processes and registers its types in `registry`: each attempt gets a small
/// worker that hands it to the pool. The pool ends with the actor system (or an exit message).
worker_pool_actor add_pool(caf::actor_system& sys, worker_registry& registry, const pool_spec& spec);

} // namespace fleet
