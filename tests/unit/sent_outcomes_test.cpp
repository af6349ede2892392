#include "fleet/sent_outcomes.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace fleet;

namespace {

std::vector<node_outcome> outcomes(int from, int n, size_t result_bytes = 0) {
  std::vector<node_outcome> out;
  for (int i = from; i < from + n; ++i) {
    node_outcome o;
    o.seq = i;
    o.attempt = 1;
    o.worker_id = "w" + std::to_string(i);
    o.outcome.result = std::string(result_bytes, 'x');
    out.push_back(std::move(o));
  }
  return out;
}

} // namespace

TEST_CASE("a node keeps what it sent for a while, not a count: a fleetd seconds behind loses none") {
  using namespace std::chrono_literals;
  sent_outcomes kept{10s, 20'000, size_t{64} << 20};
  sent_outcomes::clock::time_point t0{};
  // 4,000 outcomes a second for 5 s: all of them may still be uncommitted in a loaded fleetd.
  for (int s = 0; s < 5; ++s)
    kept.add(outcomes(s * 4000, 4000), t0 + s * 1s);
  CHECK(kept.size() == 20'000);
  CHECK(kept.list().front().seq == 0);
  CHECK(kept.list().back().seq == 19'999);
  // Older than the time kept: dropped, oldest first (at 12 s, those sent at 0 and 1 s).
  kept.add(outcomes(20'000, 1), t0 + 12s);
  CHECK(kept.size() == 12'001);
  CHECK(kept.list().front().seq == 8'000);
  kept.add(outcomes(20'001, 1), t0 + 30s);
  CHECK(kept.size() == 1);
  CHECK(kept.list().front().seq == 20'001);
}

TEST_CASE("what a node keeps of its sent outcomes is bounded by count and by bytes") {
  using namespace std::chrono_literals;
  sent_outcomes::clock::time_point t0{};
  sent_outcomes by_count{10s, 100, size_t{64} << 20};
  by_count.add(outcomes(0, 250), t0);
  CHECK(by_count.size() == 100);
  CHECK(by_count.list().front().seq == 150);
  auto taken = by_count.take(); // at a welcome: every outcome goes, none stays
  CHECK(taken.size() == 100);
  CHECK(taken.front().seq == 150);
  CHECK(by_count.size() == 0);
  sent_outcomes by_bytes{10s, 20'000, 1'000'000};
  by_bytes.add(outcomes(0, 10, 300'000), t0); // about 3 MB: the newest three fit
  CHECK(by_bytes.size() == 3);
  CHECK(by_bytes.list().back().seq == 9);
  by_bytes.clear();
  CHECK(by_bytes.size() == 0);
  by_bytes.add(outcomes(10, 1), t0);
  CHECK(by_bytes.size() == 1);
}
