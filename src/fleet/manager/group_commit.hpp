#pragma once

#include "fleetd/task.hpp"
#include "fleet/transitions.hpp"

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

  /// At `max_pending` queued changes a group should go at once (`full`).
  explicit group_commit(size_t max_pending) : max_pending_(max_pending) {}

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
