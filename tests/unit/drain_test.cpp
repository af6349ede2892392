#include "fleet/manager/drain.hpp"

#include <doctest/doctest.h>

using namespace fleet;

TEST_CASE("a drain with nothing running is answered at once, and the fleet stays drained") {
  drain_state drain;
  CHECK_FALSE(drain.draining());
  CHECK(drain.begin(0) == drain_state::start::answer_now);
  CHECK(drain.draining());
  CHECK_FALSE(drain.waiting());
  CHECK_FALSE(drain.answer());
  // A second request while nothing runs is answered at once too.
  CHECK(drain.begin(0) == drain_state::start::answer_now);
}

TEST_CASE("a drain waits for the running attempts, and only one drain waits") {
  drain_state drain;
  CHECK(drain.begin(2) == drain_state::start::wait);
  CHECK(drain.waiting());
  CHECK(drain.begin(2) == drain_state::start::already_waiting);
  CHECK_FALSE(drain.attempt_ended(1));
  CHECK(drain.attempt_ended(0));
  CHECK(drain.answer());
  CHECK_FALSE(drain.answer()); // answered once: a deadline after the last end does nothing
  CHECK_FALSE(drain.attempt_ended(0));
  CHECK(drain.draining());
}

TEST_CASE("without a drain, attempts ending changes nothing") {
  drain_state drain;
  CHECK_FALSE(drain.attempt_ended(0));
  CHECK_FALSE(drain.answer());
  CHECK_FALSE(drain.draining());
}
