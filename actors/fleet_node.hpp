#pragma once

#include "fleetd/interfaces.hpp"
#include "fleetd/worker.hpp"
#include "fleet/message_batch.hpp"

#include <caf/stateful_actor.hpp>

#include <functional>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

namespace fleet {

/// The node actor of a fleet-node process, plus what only the node itself may send it.
using fleet_node_actor = node_actor::extend<
  // From the node itself: has fleetd checked on the node lately?
  caf::reacts_to<node_tick_atom>,
  // From its own process (SIGTERM): tell fleetd, let running attempts finish for up to the
  // given ms, then quit (normally).
  caf::reacts_to<drain_atom, int64_t>,
  // From the node itself: the drain's time is up.
  caf::reacts_to<drain_deadline_atom>,
  // From the node itself: send fleetd the outcomes collected.
  caf::reacts_to<outcome_flush_atom>>;

struct fleet_node_options {
  fleet_api_actor manager;
  node_announcement announcement;
  /// The kinds this node runs (its own workers; fleetd's execution hooks do not apply here).
  std::shared_ptr<const worker_registry> registry;
  /// Called (on the node actor's thread) once fleetd welcomed the announcement.
  std::function<void()> on_joined;
};

struct fleet_node_state {
  static inline const char* name = "fleet.node";

  ~fleet_node_state();

  fleet_node_options opts;
  /// The worker of each attempt fleetd gave this node, by fleetd's worker id.
  std::unordered_map<std::string, worker_actor> workers;
  node_welcome welcome;
  /// fleetd's coordinator, for workers that report their outcome themselves.
  coordinator_actor coordinator;
  bool joined = false;
  bool draining = false;
  bool leaving = false; ///< drained: waiting for fleetd to confirm that it has every outcome
  caf::actor_clock::time_point last_heartbeat;
  /// Outcomes not sent to fleetd yet, and whether a flush for them is on its way.
  message_batch<node_outcome> outbox{max_node_batch, max_node_batch_bytes};
  bool flush_queued = false;
};

/// Joins fleetd, then runs the attempts fleetd places here, each on a fresh worker. Quits when it
/// loses fleetd (the connection drops, or no heartbeat came within fleetd's node timeout) or when
/// the join is refused; its workers stop with it. fleet-node then connects and joins again. On a
/// drain it asks fleetd for no more work and quits normally once its attempts finished (or the
/// drain's time is up: the rest stop, and fleetd runs them again elsewhere).
fleet_node_actor::behavior_type fleet_node(fleet_node_actor::stateful_pointer<fleet_node_state> self,
                                           fleet_node_options opts);

} // namespace fleet
