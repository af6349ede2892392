#include "fleetd/batch_state.hpp"

#include <doctest/doctest.h>

using namespace fleet;

TEST_CASE("batch state is derived from task counts") {
  auto state = [](int64_t total, int64_t ok, int64_t failed, int64_t cancelled, bool started,
                  bool cancel = false) {
    return derive_state(batch_counts{total, ok, failed, cancelled, started, cancel});
  };
  CHECK(state(3, 0, 0, 0, false) == batch_state::pending);
  CHECK(state(3, 0, 0, 0, true) == batch_state::processing);
  CHECK(state(3, 2, 0, 0, true) == batch_state::processing);
  CHECK(state(3, 3, 0, 0, true) == batch_state::completed);
  CHECK(state(3, 0, 3, 0, true) == batch_state::failed);
  CHECK(state(3, 2, 1, 0, true) == batch_state::partial);
  CHECK(state(3, 1, 0, 2, true, true) == batch_state::cancelled);
  CHECK(state(3, 0, 0, 0, false, true) == batch_state::cancelled);
  CHECK(to_string(batch_state::partial) == "partial");
}

TEST_CASE("progress is finished tasks over total") {
  CHECK(progress(batch_counts{4, 1, 1, 0, true, false}) == doctest::Approx(0.5));
  CHECK(progress(batch_counts{4, 0, 0, 0, false, false}) == doctest::Approx(0.0));
  CHECK(progress(batch_counts{4, 2, 1, 1, true, true}) == doctest::Approx(1.0));
  CHECK(progress(batch_counts{0, 0, 0, 0, false, false}) == doctest::Approx(0.0));
}
