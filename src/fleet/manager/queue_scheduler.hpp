#pragma once

#include "fleetd/queue.hpp"
#include "fleet/manager/ready_window.hpp"

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace fleet {

/// `count` attempt starts per `interval_ms`, and never more than `count` at once after a quiet
/// spell. Refilled continuously from the clock it is given (the actor clock in fleetd, so that
/// tests move it by hand).
class token_bucket {
public:
  /// A new rate keeps the tokens saved (up to the new size); a first one starts full.
  void configure(int32_t count, int64_t interval_ms, int64_t now);
  bool limited() const { return count_ > 0; }
  /// Whether a start may happen at `now`.
  bool available(int64_t now);
  void take(int64_t now);
  /// When the next start may happen: `now` if one may.
  int64_t next_at(int64_t now);
  /// The starts saved at `now` (0 without a rate).
  double tokens(int64_t now);
  /// The clock moved by `by_ms`: the time since the last refill stays what it was.
  void shift_clock(int64_t by_ms) { refilled_at_ += by_ms; }

private:
  void refill(int64_t now);
  int32_t count_ = 0;
  int64_t interval_ms_ = 0;
  double tokens_ = 0;
  int64_t refilled_at_ = 0;
  bool configured_ = false;
};

/// One queue as the manager runs it: its limits, its window of runnable tasks, and what runs.
struct queue_slot {
  std::string name;
  queue_limits limits;
  bool declared = false; ///< in the config file
  ready_window window;
  int32_t running = 0;
  int64_t started = 0;
  double pass = 0; ///< stride scheduling: grows by 1/weight with each start
  token_bucket bucket;
  /// Per group: its tasks in the window plus its running attempts (at most group_max_workers
  /// under a cap); groups with neither have no entry.
  std::unordered_map<std::string, int32_t> claimed;
  /// Groups with runnable tasks left out of the window at their cap (read again when one frees),
  /// each with the run position of the first task left out: the group's next read starts there.
  std::unordered_map<std::string, run_position> dropped;
  /// Per group: its running attempts; groups without any have no entry.
  std::unordered_map<std::string, int32_t> running_groups;
};

/// The manager's queues: which one starts the next attempt, and each one's limits. Knows nothing
/// of SQLite or actors.
///
/// Choice: among the queues that may start an attempt now (not paused, below max-workers, a token
/// in the bucket, runnable work possibly waiting), the one with the lowest pass, which grows by
/// 1/weight with each start (stride scheduling): over a run, busy queues get starts in proportion
/// to their weights, within one start. A queue that comes back from idle starts at the pass of the
/// last choice rather than with credit saved while it had nothing to run.
///
/// A pick costs a lookup, not a pass over every queue: the queues that may have work are kept in
/// pass order (those at or below the last choice's pass, which tie, by index), and a queue whose
/// window is idle or that is paused leaves that order until its window wakes or it is configured.
class queue_scheduler {
public:
  queue_scheduler();
  // The windows' wake-ups point at this object.
  queue_scheduler(const queue_scheduler&) = delete;
  queue_scheduler& operator=(const queue_scheduler&) = delete;

  /// The queue `name`, made with default limits if none had it.
  queue_slot& ensure(const std::string& name);
  queue_slot* find(const std::string& name);
  const queue_slot* find(const std::string& name) const;
  const std::deque<queue_slot>& all() const { return queues_; }
  std::deque<queue_slot>& all() { return queues_; }
  void configure(queue_slot& q, const queue_limits& limits, int64_t now);

  /// The queue that starts the next attempt, or null; `tried` holds the indices of queues that
  /// found nothing to start in this round (as many entries as queues, false for the others).
  queue_slot* pick(int64_t now, const std::vector<bool>& tried);
  size_t index_of(const queue_slot& q) const;
  /// An attempt of `q` (of `group`, empty for none) starts.
  void on_start(queue_slot& q, const std::string& group, int64_t now);
  /// An attempt of `q` that started in an earlier run of fleetd runs on (held for its node):
  /// counted as running, but no start (no token, no turn).
  void on_held(queue_slot& q, const std::string& group);
  /// The manager's clock moved by `by_ms` (a step of the wall clock): every rate keeps its tokens
  /// and its time to the next one.
  void shift_clock(int64_t by_ms) {
    for (auto& q : queues_)
      q.bucket.shift_clock(by_ms);
  }
  /// An attempt of queue `name` and `group` left the running table; true if its group had tasks
  /// left out of the window that may be read now.
  bool on_end(const std::string& name, const std::string& group);
  /// Claims a place for a task of `group` at run position `at` as it enters `q`'s window: false at
  /// the group's cap (the task stays out, the group is noted as dropped from there, if not already
  /// from an earlier task).
  bool claim(queue_slot& q, const std::string& group, const run_position& at);
  /// Whether `group` of `q` is at its cap with `more` tasks claimed besides its claims.
  static bool at_cap(const queue_slot& q, const std::string& group, int32_t more = 0);
  /// Every window is read again from the top: their tasks' claims go, and no group is dropped.
  void invalidate_all();
  /// `q`'s window is read again from the top.
  void reset_window(queue_slot& q);
  /// The earliest time at which a queue held back only by its rate may start again, if any.
  std::optional<int64_t> next_token_at(int64_t now);

private:
  void unclaim(queue_slot& q, const std::string& group);
  /// Whether `q` may start an attempt at `now`, apart from its window and pause.
  static bool may_start(queue_slot& q, int64_t now);
  /// Paused, or its window idle: left out of the choice until `wake`.
  static bool asleep(const queue_slot& q) { return q.limits.paused || q.window.idle(); }
  /// Queue `i` may have work again: it joins the choice.
  void wake(size_t i);
  void place(size_t i);
  void unplace(size_t i);
  /// The pass of the last choice moved up to `to`: the queues it passed tie at it.
  void advance(double to);
  template <class Order>
  queue_slot* first_ready(Order& order, int64_t now, const std::vector<bool>& tried);

  std::deque<queue_slot> queues_; // stable references: a queue is never removed while fleetd runs
  std::unordered_map<std::string, size_t> index_;
  double virtual_time_ = 0;
  /// Queues in the choice (not asleep when last looked at): those with a pass at or below
  /// virtual_time_ by index, the others by pass then index. Every queue in the choice is in
  /// exactly one of the two.
  std::set<size_t> level_;
  std::set<std::pair<double, size_t>> ahead_;
  std::vector<bool> in_choice_;
  /// Queues with a rate, for next_token_at.
  std::vector<size_t> rated_;
};

} // namespace fleet
