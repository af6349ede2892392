#pragma once

#include <chrono>
#include <utility>

namespace fleet {

/// A message to oneself that is on its way at most once: arming it again before it fired does
/// nothing. The handler calls `fired()` first. Replaces an "already scheduled?" flag per timer.
class one_shot_timer {
public:
  /// Sends `msg...` to `self` after `delay` (at once, behind the queued messages, for zero).
  template <class Self, class... Ts>
  void arm(Self* self, std::chrono::milliseconds delay, Ts&&... msg) {
    if (std::exchange(armed_, true))
      return;
    if (delay.count() <= 0)
      self->send(self, std::forward<Ts>(msg)...);
    else
      self->delayed_send(self, delay, std::forward<Ts>(msg)...);
  }

  void fired() { armed_ = false; }
  bool armed() const { return armed_; }

private:
  bool armed_ = false;
};

} // namespace fleet
