#pragma once

#include "fleetd/fleet_config.hpp"
#include "fleetd/fleet_stats.hpp"
#include "fleetd/node_info.hpp"
#include "fleetd/task.hpp"
#include "fleet/transitions.hpp"

#include <caf/actor_addr.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace fleet {

/// One attempt that runs now.
struct running_attempt {
  int64_t seq = 0;
  std::string batch_id;
  std::string task_id;
  int32_t attempt = 0;
  int32_t counted_before = 0;  ///< attempts that count towards max_retries before this one
  int32_t orphaned_before = 0; ///< attempts of the task lost to crashes before this one
  size_t journal_slot = 0;     ///< its entry in the start journal, cleared once the start commits
  std::string worker_id;
  std::string node = local_node_name; ///< where it runs
  caf::strong_actor_ptr worker;       ///< fleetd's own worker; null on a fleet-node
  bool shared_worker = false;         ///< `worker` runs other attempts too (add_shared): never stopped
  int64_t spawned_at = 0;
  int64_t deadline = 0; ///< worker_timeout (the task's own, or the fleet's when it started)
  task_policy policy;   ///< the task's own, applied to the fleet's configuration as it ends
  bool start_committed = false;
  /// On a fleet-node: its start is not queued yet, but waits for its end (or node_start_delay_ms)
  /// so that both are written as one row.
  bool start_held = false;
  double progress = -1; ///< the worker's last report, 0..1; -1: none
  std::string note;
  std::string queue; ///< its task's queue and group, whose counts it holds while it runs
  std::string group;
};

/// How an attempt that a worker reported on ends, and where its task goes: succeeded; retried
/// after a backoff while retries are left (and the worker did not say that no retry can help);
/// failed otherwise. A timeout (`caf::sec::request_timeout`) is its own outcome. `unit_random`
/// draws the backoff's jitter in [0, 1), only when the task is retried. `cfg` is the fleet's: the
/// attempt's task policy applies on top. A result over `max_result_bytes` fails the task without a
/// retry (the same work would return the same); an error over it is cut to it. Pure: the manager
/// supplies the clock and the dice.
attempt_ended end_of_attempt(const running_attempt& r, const caf::expected<task_outcome>& outcome,
                             const fleet_config& cfg, int64_t now,
                             const std::function<double()>& unit_random,
                             size_t max_result_bytes = SIZE_MAX);

/// Why `t` cannot be given its dependencies' results (`stored_bytes` of them, and the object read
/// in t.spec.deps, empty if the read left it out), or nothing if it can: they hold more than
/// `max_bytes` (fleet.max-dependency-results), or more than fits beside the task in one message of
/// `max_message_bytes` to a node (SIZE_MAX for fleetd's own workers). Measured as stored and as
/// the JSON object read (a result that is not JSON grows when it is escaped).
std::optional<std::string> dependency_refusal(const runnable_task& t, int64_t stored_bytes, size_t max_bytes,
                                              size_t max_message_bytes);

/// The start of the attempt as the store records it (no node for fleetd's own workers).
attempt_started start_of(const running_attempt& r);

/// The end of an attempt the manager stopped itself (cancel, drain), without a worker's outcome.
attempt_ended stopped_attempt_end(const running_attempt& r, int64_t now, attempt_outcome outcome, std::string error,
                                  task_disposition next);

/// The end of an attempt lost with its node: it runs again or, lost too often
/// (`max_interruptions`), its task fails for good.
attempt_ended lost_with_node_end(const running_attempt& r, int64_t now, int32_t max_interruptions,
                                 std::string reason);

/// The attempts that run now, by task seq, and the workers that finished lately (for
/// active_workers()). Knows nothing of how attempts start or stop: the manager does that.
///
/// Invariant: at most one attempt per task; `suspects_running()` counts the running attempts of
/// tasks that lost an attempt to a crash before (the manager runs at most one of them at a time).
class attempt_table {
public:
  explicit attempt_table(size_t recent_kept = 32) : recent_kept_(recent_kept) {}

  /// Adds a running attempt; its task must have none.
  running_attempt& add(running_attempt r);
  /// The attempt `attempt` of task `seq` if it is the one running; null if it ended (a late outcome).
  running_attempt* find(int64_t seq, int32_t attempt);
  /// Whether task `seq` has an attempt running.
  bool runs(int64_t seq) const { return running_.count(seq) != 0; }
  /// The running attempt on fleetd's own worker `who` (not a shared one), through an index by
  /// worker: the exit of every such worker comes here, nearly always after its attempt ended.
  std::optional<std::pair<int64_t, int32_t>> find_worker(const caf::actor_addr& who) const;
  /// The running attempt whose worker id is `worker_id` (a progress report, an outcome a worker
  /// submits itself), through an index by worker id; null if none runs.
  const running_attempt* find_worker_id(std::string_view worker_id) const;
  /// Every running attempt on the shared worker `who`, as (seq, attempt), in one pass (its exit).
  std::vector<std::pair<int64_t, int32_t>> on_shared_worker(const caf::actor_addr& who) const;
  /// Takes the attempt out of the table if it is the one running.
  std::optional<running_attempt> take(int64_t seq, int32_t attempt);
  /// Takes every running attempt for which `pred` is true (of a batch, of a node, all).
  std::vector<running_attempt> take_if(const std::function<bool(const running_attempt&)>& pred);
  /// Its start is durable: active_workers() shows it `active` rather than `spawning`.
  void start_committed(int64_t seq, int32_t attempt);

  /// Lists a finished attempt's worker among the recent ones (newest first, at most `recent_kept`).
  void remember_finished(const running_attempt& r, bool success, int64_t at);
  /// The attempts whose deadline is at or before `now`, as (seq, attempt).
  std::vector<std::pair<int64_t, int32_t>> late(int64_t now) const;
  /// The manager's clock moved by `by_ms` (a step of the wall clock): the running attempts' start
  /// and deadline move with it, so that their durations and timeouts stay as measured.
  void shift_clock(int64_t by_ms);
  /// active_workers(): the running ones by start, then the recent ones, newest first.
  std::vector<worker_info> workers() const;

  size_t size() const { return running_.size(); }
  bool empty() const { return running_.empty(); }
  int suspects_running() const { return suspects_; }
  /// Every running attempt, in no order.
  template <class F>
  void for_each(F f) const {
    for (const auto& [seq, r] : running_)
      f(r);
  }

private:
  using running_map = std::unordered_map<int64_t, running_attempt>;
  void unindex(const running_attempt& r);
  /// Moves the attempt at `i` out of the table (its indexes first: one views its worker_id) and
  /// returns it; `i` then points past it.
  running_attempt extract(running_map::iterator& i);

  size_t recent_kept_;
  running_map running_;
  /// Own workers (not shared ones, which run thousands at once) -> seq; a multimap, since a
  /// user's get_worker_instance may hand the same actor to several attempts.
  std::unordered_multimap<caf::actor_addr, int64_t> by_worker_;
  /// worker_id -> seq; the key views the worker_id of the attempt in running_ (whose nodes stay put)
  std::unordered_map<std::string_view, int64_t> by_worker_id_;
  std::deque<worker_info> recent_;
  int suspects_ = 0;
};

} // namespace fleet
