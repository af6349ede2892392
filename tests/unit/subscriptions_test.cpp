#include "fleet/manager/subscriptions.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace fleet;

namespace {
using book = subscription_book<int, std::string>;
}

TEST_CASE("a one-shot subscription is served once, with the standing ones, and releases its holder") {
  book subs;
  CHECK(subs.add("b1", 1, 1, "alice"));     // alice's first: watch her
  CHECK_FALSE(subs.add("b2", 1, 1, "alice")); // already watched
  CHECK(subs.add("", 2, 2, "bob"));          // bob: every batch
  CHECK(subs.subscriptions() == 3);
  CHECK(subs.subscribers() == 2);
  auto served = subs.finish("b1");
  CHECK(served.notify == std::vector<std::string>{"alice", "bob"});
  CHECK(served.released.empty()); // alice still waits for b2
  CHECK(subs.subscriptions() == 2);
  served = subs.finish("b1"); // served already: only the standing subscriber
  CHECK(served.notify == std::vector<std::string>{"bob"});
  served = subs.finish("b2");
  CHECK(served.notify == std::vector<std::string>{"alice", "bob"});
  CHECK(served.released == std::vector<std::string>{"alice"});
  CHECK(subs.subscribers() == 1);
  CHECK(subs.batches() == 0);
}

TEST_CASE("a subscriber that goes away loses all its subscriptions, and no one else's") {
  book subs;
  subs.add("b1", 1, 1, "alice");
  subs.add("b1", 2, 2, "bob");
  subs.add("", 1, 1, "alice");
  subs.add("b2", 1, 1, "alice");
  CHECK(subs.forget(1));
  CHECK_FALSE(subs.forget(1));
  CHECK_FALSE(subs.forget(3));
  CHECK(subs.subscriptions() == 1);
  CHECK(subs.subscribers() == 1);
  CHECK(subs.batches() == 1);
  auto served = subs.finish("b1");
  CHECK(served.notify == std::vector<std::string>{"bob"});
  CHECK(served.released == std::vector<std::string>{"bob"});
  CHECK(subs.subscriptions() == 0);
}

TEST_CASE("the book says when it is full") {
  book subs;
  for (size_t i = 0; i < book::max_subscriptions; ++i) {
    CHECK_FALSE(subs.full());
    subs.add("b", static_cast<int>(i % 7), static_cast<int>(i % 7), "x");
  }
  CHECK(subs.full());
  CHECK(subs.subscribers() == 7);
  subs.finish("b");
  CHECK_FALSE(subs.full());
  CHECK(subs.subscribers() == 0);
}

TEST_CASE("a peer holds at most its share, and gets it back as its subscriptions end") {
  subscription_book<int, std::string, std::string> subs;
  // Two subscribers of one client process, one of another.
  for (size_t i = 0; i < decltype(subs)::max_per_peer; ++i) {
    CHECK_FALSE(subs.full("node-a"));
    subs.add("b" + std::to_string(i % 3), static_cast<int>(i % 2), "node-a", "a");
  }
  CHECK(subs.full("node-a"));
  CHECK(subs.held_by("node-a") == decltype(subs)::max_per_peer);
  CHECK_FALSE(subs.full("node-b"));
  subs.add("b0", 9, "node-b", "b");
  CHECK(subs.held_by("node-b") == 1);
  // A finished batch gives back its entries; a subscriber that goes away gives back all of its.
  auto b0 = subs.held_by("node-a");
  subs.finish("b0");
  CHECK(subs.held_by("node-a") < b0);
  CHECK_FALSE(subs.full("node-a"));
  CHECK(subs.held_by("node-b") == 0);
  CHECK(subs.forget(0));
  CHECK(subs.forget(1));
  CHECK(subs.held_by("node-a") == 0);
  CHECK(subs.subscriptions() == 0);
}
