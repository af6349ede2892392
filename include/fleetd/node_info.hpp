#pragma once

// What fleetd and its fleet-node processes tell each other, and what `fleetctl nodes` shows.

#include "fleetd/task.hpp"

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace fleet {

/// The name of the node that stands for fleetd's own workers.
inline const std::string local_node_name = "local";

/// A program that the last run of a fleet-node left running, which the node stopped at its
/// start before it ran anything: fleetd records it in the audit (event orphan_stopped).
struct stopped_orphan {
  std::string label{};    ///< the attempt's worker id, or "pool NAME"
  int32_t pid = 0;        ///< its pid and process group
  int64_t started_at = 0; ///< ms since the epoch
  /// "SIGTERM" (its group ended within the grace period) or "SIGKILL" (it had to be killed); in
  /// fleetd's and fleet-node's own list also "gone" (nothing of its group was left: it had ended,
  /// or its pid was reused), which is never announced
  std::string how{};

  bool stopped() const { return how != "gone"; }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stopped_orphan& x) {
  return f(caf::meta::type_name("fleet.stopped_orphan"), x.label, x.pid, x.started_at, x.how);
}

/// How an attempt on a node ended, as the node reports it (several to a message).
struct node_outcome {
  int64_t seq = 0;
  int32_t attempt = 0;
  std::string worker_id{};
  /// The worker's outcome, unless `error` says why there is none: the node does not run the type,
  /// no worker could be made, or the worker ended without an outcome. Such an error is the task's
  /// failure; the node's own loss is seen by fleetd through the connection and the heartbeats.
  task_outcome outcome{};
  caf::error error{};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_outcome& x) {
  return f(caf::meta::type_name("fleet.node_outcome"), x.seq, x.attempt, x.worker_id, x.outcome, x.error);
}

/// What a fleet-node announces when it joins.
struct node_announcement {
  std::string name{};               ///< unique in the fleet; a second join under it replaces the first
  std::vector<std::string> types{}; ///< task types it runs
  int32_t capacity = 0;             ///< attempts it runs at once
  /// What the node stopped at its start; sent until a join succeeds, at most max_stopped_orphans.
  std::vector<stopped_orphan> stopped_orphans{};
  /// Attempts of an earlier membership the node still runs (seq, attempt, worker_id; no outcome)
  /// and ones that ended since (or shortly before) it lost fleetd, at most max_held_attempts each:
  /// fleetd, restarted or a standby that took over, takes those it still counts as running on
  /// the node (node_welcome::kept), and the node stops the others.
  std::vector<node_outcome> running{};
  std::vector<node_outcome> finished{};
};

/// The most attempts a join may report as running, and as finished.
inline constexpr size_t max_held_attempts = 20'000;

/// The most bytes of results and errors the finished outcomes of one join may carry, so that a
/// join stays far below the largest message a peer may send (256 MiB). A node that holds more
/// reports the rest as running; fleetd keeps them, and the node sends their outcomes after the
/// welcome, in messages of the usual size.
inline constexpr size_t max_join_outcome_bytes = size_t{4} << 20;

/// The bytes an outcome's result and error weigh against max_node_batch_bytes and
/// max_join_outcome_bytes.
inline size_t outcome_bytes(const node_outcome& o) {
  return o.outcome.result.size() + o.outcome.error.size();
}

/// The most stopped programs a join may report (a node runs at most 10,000 attempts and its pools).
inline constexpr size_t max_stopped_orphans = 20'000;

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_announcement& x) {
  return f(caf::meta::type_name("fleet.node_announcement"), x.name, x.types, x.capacity, x.stopped_orphans,
           x.running, x.finished);
}

/// fleetd's answer to a join: how often it checks on the node.
struct node_welcome {
  int64_t heartbeat_ms = 0; ///< fleetd asks this often
  int64_t timeout_ms = 0;   ///< and drops the node after this long without an answer
  /// Of the announcement's running attempts, the worker ids fleetd takes as still running there;
  /// the node stops the rest (fleetd ended them: lost, timed out or cancelled meanwhile).
  std::vector<std::string> kept{};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_welcome& x) {
  return f(caf::meta::type_name("fleet.node_welcome"), x.heartbeat_ms, x.timeout_ms, x.kept);
}

/// One line of `fleetctl nodes`.
struct node_info {
  std::string name{};
  std::vector<std::string> types{};
  int32_t capacity = 0; ///< -1: the local node without a limit of its own (max-workers bounds it)
  int32_t running = 0;
  int64_t joined_at = 0;      ///< ms since epoch
  int64_t last_heartbeat = 0; ///< ms since epoch; the local node: now
  bool draining = false;      ///< the node leaves once its running attempts finish; it gets no more
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_info& x) {
  return f(caf::meta::type_name("fleet.node_info"), x.name, x.types, x.capacity, x.running,
           x.joined_at, x.last_heartbeat, x.draining);
}

/// One attempt fleetd gives a node: attempt `attempt` (1-based) of `spec` runs on a fresh worker,
/// known to fleetd as `worker_id`, for at most `timeout_ms`. A time span, not fleetd's deadline:
/// the node's clock may be set differently or step, and the worker's deadline is on the node's
/// clock. fleetd sends a node the attempts it places there together, several to a message.
struct node_attempt {
  int64_t seq = 0; ///< fleetd's row of the task, given back with the outcome
  int32_t attempt = 0;
  std::string worker_id{};
  task spec{};
  int64_t timeout_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_attempt& x) {
  return f(caf::meta::type_name("fleet.node_attempt"), x.seq, x.attempt, x.worker_id, x.spec, x.timeout_ms);
}

/// At most this many attempts or outcomes go in one message between fleetd and a node, and at
/// most about max_node_batch_bytes of their task data or results (one bigger item goes alone).
inline constexpr size_t max_node_batch = 256;
inline constexpr size_t max_node_batch_bytes = size_t{1} << 20;

} // namespace fleet
