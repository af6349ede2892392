#pragma once

#include <cstddef>

namespace fleet {

/// The steps of a drain (fleetd's orderly stop): from the first request on, no new batches and no
/// new attempts; the request is answered once the running attempts ended, or at its deadline with
/// the ones still running interrupted. Knows nothing of actors: the manager keeps the response
/// promise and the timer, this decides when they fire.
class drain_state {
public:
  enum class start {
    answer_now,      ///< nothing runs: answer once what is queued is written
    wait,            ///< answer when the last attempt ends, or at the deadline
    already_waiting, ///< a drain is already waiting: refuse this one
  };

  /// A drain request while `running` attempts run.
  start begin(size_t running) {
    draining_ = true;
    if (waiting_)
      return start::already_waiting;
    if (running == 0)
      return start::answer_now;
    waiting_ = true;
    return start::wait;
  }

  /// From the first drain request on: no new batches, nodes or attempts.
  bool draining() const { return draining_; }
  /// A drain request waits for its answer.
  bool waiting() const { return waiting_; }

  /// An attempt ended and `running` are left: true if the waiting drain can be answered once
  /// that end is written.
  bool attempt_ended(size_t running) const { return waiting_ && running == 0; }

  /// The waiting request is answered now; false if none waits (answered already).
  bool answer() {
    if (!waiting_)
      return false;
    waiting_ = false;
    return true;
  }

private:
  bool draining_ = false;
  bool waiting_ = false;
};

} // namespace fleet
