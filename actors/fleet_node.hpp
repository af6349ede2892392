#pragma once

#include "fleetd/interfaces.hpp"
#include "fleetd/worker.hpp"
#include "fleet/message_batch.hpp"
#include "fleet/sent_outcomes.hpp"

#include <caf/stateful_actor.hpp>

#include <functional>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace fleet {

using hold_due_atom = caf::atom_constant<caf::atom("holddue")>;

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
  caf::reacts_to<outcome_flush_atom>,
  // From its own process: join (again) through this handle of fleetd.
  caf::reacts_to<rejoin_atom, fleet_api_actor>,
  // From the node itself: the time to hold attempts for a rejoin, of the loss it counts, is up.
  caf::reacts_to<hold_due_atom, uint64_t>>;

struct fleet_node_options {
  /// fleetd, joined at spawn; none: the node waits for rejoin_atom.
  fleet_api_actor manager;
  node_announcement announcement;
  /// The kinds this node runs (its own workers; fleetd's execution hooks do not apply here).
  std::shared_ptr<const worker_registry> registry;
  /// Called (on the node actor's thread) once fleetd welcomed the announcement.
  std::function<void()> on_joined;
  /// Called (on the node actor's thread) when it lost fleetd or a join failed for a reason that
  /// may pass: its process connects again and sends rejoin_atom. None: the node quits then, with
  /// its attempts.
  std::function<void(const caf::error&)> on_lost;
  /// How long attempts run on after the node lost fleetd, for a rejoin to report on (node.rejoin-window);
  /// 0: they stop at once.
  int64_t hold_ms = 0;
};

/// An attempt the node runs.
struct node_running {
  worker_actor worker;
  int64_t seq = 0;
  int32_t attempt = 0;
  bool shared = false; ///< `worker` runs other attempts too (add_shared): never stopped for this one
};

struct fleet_node_state {
  static inline const char* name = "fleet.node";

  ~fleet_node_state();

  fleet_node_options opts;
  /// The worker of each attempt fleetd gave this node, by fleetd's worker id.
  std::unordered_map<std::string, node_running> workers;
  /// The worker of each shared type (worker_registry::add_shared), by type; one that answers an
  /// attempt with an error (it exited) is forgotten, and the next attempt spawns another.
  std::map<std::string, worker_actor> shared_workers;
  node_welcome welcome;
  /// fleetd's coordinator, for workers that report their outcome themselves.
  coordinator_actor coordinator;
  bool joined = false;
  bool joining = false; ///< a join is on its way
  /// Counts losses of fleetd: a hold deadline is about the loss it was armed for.
  uint64_t losses = 0;
  /// Outcomes of attempts that ended while the node had no fleetd (or was joining), for the next join.
  std::vector<node_outcome> held;
  /// The outcomes sent to fleetd in the last seconds: fleetd may have died before it recorded
  /// them, and the next join reports them again.
  sent_outcomes recently_sent{std::chrono::seconds(10), max_held_attempts, size_t{64} << 20};
  /// Outcomes the join on its way reported: back to `held` if it fails.
  std::vector<node_outcome> in_join;
  /// The running attempts the current join announced: those not kept stop once it is welcomed.
  std::set<std::string> announced;
  /// Ended attempts the current join announced as running, their outcomes beyond what a join
  /// carries (max_join_outcome_bytes): those fleetd keeps are reported once it is welcomed.
  std::set<std::string> deferred;
  bool draining = false;
  bool leaving = false; ///< drained: waiting for fleetd to confirm that it has every outcome
  caf::actor_clock::time_point last_heartbeat;
  /// Outcomes not sent to fleetd yet, and whether a flush for them is on its way.
  message_batch<node_outcome> outbox{max_node_batch, max_node_batch_bytes};
  bool flush_queued = false;
};

/// Joins fleetd, then runs the attempts fleetd places here, each on a fresh worker. When it loses
/// fleetd (the connection drops, or no heartbeat came within fleetd's node timeout) its attempts
/// run on for `hold_ms`, their outcomes kept, and its process connects again and sends
/// rejoin_atom: the join reports what the node holds, and fleetd (restarted, or a standby that
/// took over) keeps what it still counts as running there; the rest stop. fleetd dropping the
/// node stops its attempts at once (they run elsewhere). Quits when the join is refused for good
/// (a bad announcement, another protocol version). On a drain it asks fleetd for no more work and
/// quits normally once its attempts finished (or the drain's time is up: the rest stop, and
/// fleetd runs them again elsewhere); without fleetd it quits at once.
fleet_node_actor::behavior_type fleet_node(fleet_node_actor::stateful_pointer<fleet_node_state> self,
                                           fleet_node_options opts);

} // namespace fleet
