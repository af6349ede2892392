#pragma once

#include "fleetd/task.hpp"
#include "fleet/transitions.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

namespace fleet {

/// The changes waiting for the next group commit, and what runs once they are durable. Knows
/// nothing of actors or SQLite: the manager decides when a group goes to the writer and tells this
/// how the write ended.
///
/// Invariant: a task seq counts as uncommitted from `queue` until the group holding its change
/// committed. The runnable window skips such tasks, because the file still shows them as before.
class group_commit {
public:
  /// One group handed to the writer.
  struct group {
    std::vector<transition> changes;
    std::vector<std::function<void()>> actions; ///< run after the commit, in order
    std::vector<task_result> results;           ///< for the coordinator, after the commit
    bool promote_retries = false;               ///< the group also promotes due retries
  };

  /// At `max_pending` queued changes a group should go at once (`full`) if no group is being
  /// written; at `max_waiting` queued changes, or `max_waiting_bytes` of their text (results,
  /// errors, ids), no new work should start (`backlogged`).
  explicit group_commit(size_t max_pending, size_t max_waiting = SIZE_MAX, size_t max_waiting_bytes = SIZE_MAX)
    : max_pending_(max_pending), max_waiting_(std::max(max_pending, max_waiting)),
      max_waiting_bytes_(max_waiting_bytes) {}

  void queue(transition change);
  void after_commit(std::function<void()> action) { actions_.push_back(std::move(action)); }
  void add_result(task_result r) { results_.push_back(std::move(r)); }
  /// The next group also moves due retries back to pending.
  void want_promotion() { promote_ = true; }

  bool is_uncommitted(int64_t seq) const { return uncommitted_.count(seq) != 0; }
  /// Tasks with a change not committed yet (queued or in flight).
  size_t uncommitted() const { return uncommitted_.size(); }
  size_t pending() const { return changes_.size(); }
  bool full() const { return changes_.size() >= max_pending_; }
  /// A group should be handed to the writer now: it is full and the writer has none of ours. While
  /// one is being written, the changes behind it wait and go as one group when it commits: the
  /// slower the writer, the bigger its groups, so each fsync and each page is shared by more tasks.
  bool due() const { return full() && in_flight_ == 0; }
  /// So many changes wait that the caller should start no new work until a group commits: what
  /// waits in memory stays bounded while the writer sets the pace.
  bool backlogged() const { return changes_.size() >= max_waiting_ || waiting_bytes_ >= max_waiting_bytes_; }
  /// The text the queued changes carry (results, errors, ids), as `backlogged` counts it.
  size_t waiting_bytes() const { return waiting_bytes_; }
  /// Something waits for a group: changes, or a promotion.
  bool has_work() const { return !changes_.empty() || promote_; }
  size_t in_flight() const { return in_flight_; }

  /// Everything waiting, as one group now in flight; none if nothing waits.
  std::optional<group> take();
  /// The group is durable: its tasks are no longer uncommitted. Its actions are the caller's to run.
  void committed(const group& g);
  /// Nothing of the group is stored: it goes back in front of what was queued since, so that the
  /// next group writes it first, with its actions and results. Groups that fail one after the
  /// other (with no take between) go back in the order they were taken.
  void failed(group g);

private:
  size_t max_pending_;
  size_t max_waiting_;
  size_t max_waiting_bytes_;
  size_t waiting_bytes_ = 0; ///< of changes_
  std::vector<transition> changes_;
  std::vector<std::function<void()>> actions_;
  std::vector<task_result> results_;
  bool promote_ = false;
  size_t in_flight_ = 0;
  /// How much at the front of changes_, actions_ and results_ came back from failed groups since
  /// the last take: the next failed group goes behind it.
  size_t failed_changes_ = 0, failed_actions_ = 0, failed_results_ = 0;
  std::unordered_map<int64_t, int> uncommitted_; ///< seq -> changes not committed
};

} // namespace fleet
