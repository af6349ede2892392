#include "fleet/manager/group_commit.hpp"

#include <doctest/doctest.h>

using namespace fleet;

namespace {

attempt_started started(int64_t seq) {
  attempt_started x;
  x.seq = seq;
  x.attempt = 1;
  return x;
}

attempt_ended ended(int64_t seq) {
  attempt_ended x;
  x.seq = seq;
  x.attempt = 1;
  x.next = task_disposition::succeeded;
  return x;
}

int64_t seq_of(const transition& t) {
  return std::visit([](const auto& x) { return x.seq; }, t);
}

} // namespace

TEST_CASE("a group takes everything queued, and its tasks stay uncommitted until it commits") {
  group_commit commits{512};
  CHECK_FALSE(commits.has_work());
  CHECK_FALSE(commits.take());
  commits.queue(started(1));
  commits.queue(ended(1));
  commits.queue(started(2));
  int ran = 0;
  commits.after_commit([&] { ++ran; });
  commits.add_result({"t1", true, "{}", "", 1, 0});
  CHECK(commits.uncommitted() == 2);
  auto g = commits.take();
  REQUIRE(g);
  CHECK(g->changes.size() == 3);
  CHECK(g->actions.size() == 1);
  CHECK(g->results.size() == 1);
  CHECK(commits.in_flight() == 1);
  CHECK_FALSE(commits.has_work());
  // Queued while the first is in flight: its own group, and seq 2 stays uncommitted through both.
  commits.queue(ended(2));
  CHECK(commits.is_uncommitted(1));
  CHECK(commits.is_uncommitted(2));
  commits.committed(*g);
  CHECK(commits.in_flight() == 0);
  CHECK_FALSE(commits.is_uncommitted(1));
  CHECK(commits.is_uncommitted(2)); // its end is not written yet
  CHECK(ran == 0);                   // the caller runs the actions
  auto second = commits.take();
  REQUIRE(second);
  commits.committed(*second);
  CHECK(commits.uncommitted() == 0);
}

TEST_CASE("a failed group goes back in front of what came after it, with its actions and promotion") {
  group_commit commits{512};
  commits.queue(started(1));
  commits.after_commit([] {});
  commits.want_promotion();
  auto g = commits.take();
  REQUIRE(g);
  CHECK(g->promote_retries);
  commits.queue(started(2));
  commits.after_commit([] {});
  commits.failed(std::move(*g));
  CHECK(commits.in_flight() == 0);
  CHECK(commits.is_uncommitted(1));
  auto again = commits.take();
  REQUIRE(again);
  REQUIRE(again->changes.size() == 2);
  CHECK(seq_of(again->changes[0]) == 1); // the failed group's change first
  CHECK(seq_of(again->changes[1]) == 2);
  CHECK(again->actions.size() == 2);
  CHECK(again->promote_retries);
}

TEST_CASE("groups that fail one after the other go back in the order they were taken, before newer changes") {
  group_commit commits{512};
  std::vector<int> order;
  commits.queue(started(1));
  commits.after_commit([&] { order.push_back(1); });
  auto a = commits.take();
  commits.queue(started(2));
  commits.after_commit([&] { order.push_back(2); });
  auto b = commits.take();
  commits.queue(started(3));
  commits.after_commit([&] { order.push_back(3); });
  REQUIRE(a);
  REQUIRE(b);
  commits.failed(std::move(*a));
  commits.failed(std::move(*b));
  auto again = commits.take();
  REQUIRE(again);
  REQUIRE(again->changes.size() == 3);
  CHECK(seq_of(again->changes[0]) == 1);
  CHECK(seq_of(again->changes[1]) == 2);
  CHECK(seq_of(again->changes[2]) == 3);
  for (auto& action : again->actions)
    action();
  CHECK(order == std::vector<int>{1, 2, 3});
  // After a take, a failed group goes to the very front again.
  commits.queue(started(4));
  commits.failed(std::move(*again));
  auto third = commits.take();
  REQUIRE(third);
  REQUIRE(third->changes.size() == 4);
  CHECK(seq_of(third->changes[0]) == 1);
  CHECK(seq_of(third->changes[3]) == 4);
}

TEST_CASE("a group is full at the limit of pending changes, and a promotion alone is work") {
  group_commit commits{3};
  commits.queue(started(1));
  commits.queue(started(2));
  CHECK_FALSE(commits.full());
  commits.queue(started(3));
  CHECK(commits.full());
  CHECK(commits.pending() == 3);
  auto g = commits.take();
  REQUIRE(g);
  CHECK_FALSE(commits.full());
  commits.want_promotion();
  CHECK(commits.has_work());
  auto promotion = commits.take();
  REQUIRE(promotion);
  CHECK(promotion->changes.empty());
  CHECK(promotion->promote_retries);
}

TEST_CASE("a full group goes only while the writer has none, and what waits behind one is bounded") {
  group_commit commits{2, 5};
  commits.queue(started(1));
  commits.queue(started(2));
  CHECK(commits.due()); // full, and nothing in flight
  auto first = commits.take();
  REQUIRE(first);
  // While the first is written, a full group waits and grows: it goes whole when the first commits.
  for (int64_t seq = 3; seq < 7; ++seq)
    commits.queue(started(seq));
  CHECK(commits.full());
  CHECK_FALSE(commits.due());
  CHECK_FALSE(commits.backlogged());
  commits.queue(started(7));
  CHECK(commits.backlogged()); // 5 waiting: no new work until the writer catches up
  commits.committed(*first);
  CHECK(commits.due());
  auto second = commits.take();
  REQUIRE(second);
  CHECK(second->changes.size() == 5);
  CHECK_FALSE(commits.backlogged());
  CHECK_FALSE(commits.due());
}

TEST_CASE("the text that waits bounds the backlog too, and a failed group brings its text back") {
  group_commit commits{512, 512, 100};
  auto big = ended(1);
  big.result = std::string(60, 'r');
  big.batch_id = "b";
  big.task_id = "t1";
  commits.queue(big);
  CHECK(commits.waiting_bytes() == 63); // "b", "t1" and the result
  CHECK_FALSE(commits.backlogged());
  auto failing = ended(2);
  failing.error = std::string(40, 'e');
  commits.queue(failing);
  CHECK(commits.waiting_bytes() == 103);
  CHECK(commits.backlogged());
  auto g = commits.take();
  REQUIRE(g);
  CHECK(commits.waiting_bytes() == 0);
  CHECK_FALSE(commits.backlogged());
  auto start = started(3);
  start.worker_id = "w-3";
  commits.queue(start);
  CHECK(commits.waiting_bytes() == 3);
  commits.failed(std::move(*g));
  CHECK(commits.waiting_bytes() == 106);
  CHECK(commits.backlogged());
}
