#pragma once

#include "fleetd/node_info.hpp"

#include <chrono>
#include <cstddef>
#include <deque>
#include <utility>
#include <vector>

namespace fleet {

/// The outcomes a fleet-node sent to fleetd lately, newest last, for its next join: fleetd may
/// die before it records them. How many outcomes fleetd has not committed yet depends on its
/// commit lag, not on a count (a loaded fleetd runs seconds behind at thousands of outcomes a
/// second): each is kept for `keep` after it was sent, within `max_count` outcomes and
/// `max_bytes` of them.
class sent_outcomes {
public:
  using clock = std::chrono::steady_clock;

  sent_outcomes(std::chrono::milliseconds keep, size_t max_count, size_t max_bytes)
    : keep_(keep), max_count_(max_count), max_bytes_(max_bytes) {}

  void add(const std::vector<node_outcome>& sent, clock::time_point now) {
    for (const auto& o : sent) {
      bytes_ += outcome_bytes(o);
      list_.push_back(o);
      sent_at_.push_back(now);
    }
    while (!list_.empty()
           && (list_.size() > max_count_ || bytes_ > max_bytes_ || now - sent_at_.front() > keep_)) {
      bytes_ -= outcome_bytes(list_.front());
      list_.pop_front();
      sent_at_.pop_front();
    }
  }

  /// Oldest first.
  const std::deque<node_outcome>& list() const { return list_; }
  size_t size() const { return list_.size(); }

  /// Every outcome kept, oldest first; none is kept after.
  std::deque<node_outcome> take() {
    sent_at_.clear();
    bytes_ = 0;
    return std::exchange(list_, {});
  }

  void clear() { take(); }

private:
  std::chrono::milliseconds keep_;
  size_t max_count_;
  size_t max_bytes_;
  std::deque<node_outcome> list_;
  std::deque<clock::time_point> sent_at_;
  size_t bytes_ = 0;
};

} // namespace fleet
