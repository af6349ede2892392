#include "fleet/message_batch.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace fleet;

TEST_CASE("a message batch is full at its item count or its bytes, and take empties it in order") {
  message_batch<int> by_count{3, 1000};
  CHECK(by_count.empty());
  CHECK_FALSE(by_count.add(1, 10));
  CHECK_FALSE(by_count.add(2, 10));
  CHECK(by_count.add(3, 10));
  CHECK(by_count.take() == std::vector<int>{1, 2, 3});
  CHECK(by_count.empty());
  CHECK_FALSE(by_count.full());
  // The bytes start again from zero after a take.
  message_batch<std::string> by_bytes{100, 64};
  CHECK_FALSE(by_bytes.add("a", 40));
  CHECK(by_bytes.add("b", 24));
  CHECK(by_bytes.take().size() == 2);
  CHECK_FALSE(by_bytes.add("c", 40));
  // One item bigger than the bound is full on its own.
  message_batch<std::string> big{100, 64};
  CHECK(big.add("huge", 1000));
  CHECK(big.size() == 1);
}
