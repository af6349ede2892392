// Completion notifications (issue 7): subscribers hear of finished batches without polling.

#include "fleet_fixture.hpp"

using namespace fleet;
using namespace fleet::test;

namespace {

caf::expected<batch_status> subscribe(fleet_fixture& f, caf::scoped_actor& who, const std::string& id) {
  caf::expected<batch_status> out{caf::make_error(errc::unreachable, "no reply")};
  auto rh = who->request(f.manager(), caf::infinite, subscribe_atom::value, id);
  f.run();
  rh.receive([&](batch_status& st) { out = std::move(st); }, [&](caf::error& err) { out = std::move(err); });
  return out;
}

/// The notifications waiting in `who`'s mailbox.
std::vector<batch_status> notifications(caf::scoped_actor& who) {
  std::vector<batch_status> out;
  bool more = true;
  while (more)
    who->receive([&](batch_done_atom, batch_status& st) { out.push_back(std::move(st)); },
                 caf::after(std::chrono::seconds(0)) >> [&] { more = false; });
  return out;
}

} // namespace

TEST_CASE("a subscriber hears once when its batch finishes, and at once if it had finished") {
  fleet_fixture f;
  f.start();
  caf::scoped_actor who{f.sys()};
  auto id = f.submit_ok({make_task("s", "sleep", R"({"ms":500})")});
  auto now = subscribe(f, who, id);
  REQUIRE(now);
  CHECK(now->finished_at == 0);
  CHECK(notifications(who).empty());
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto heard = notifications(who);
  REQUIRE(heard.size() == 1);
  CHECK(heard[0].batch_id == id);
  CHECK(heard[0].status == batch_state::completed);
  CHECK(heard[0].completed == 1);
  // Finished already: the reply says so, and nothing more comes.
  auto later = subscribe(f, who, id);
  REQUIRE(later);
  CHECK(later->finished_at != 0);
  auto other = f.submit_ok(echo_tasks(1));
  REQUIRE(f.advance_until([&] { return f.finished(other); }));
  CHECK(notifications(who).empty());
  auto unknown = subscribe(f, who, "batch-nope");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error() == errc::unknown_batch);
}

TEST_CASE("a subscriber to every batch hears each one finish, cancelled ones too") {
  fleet_fixture f;
  f.start();
  caf::scoped_actor who{f.sys()};
  REQUIRE(subscribe(f, who, ""));
  auto done = f.submit_ok(echo_tasks(2));
  auto stopped = f.submit_ok({make_task("s", "sleep", R"({"ms":60000})")});
  REQUIRE(f.advance_until([&] { return f.finished(done); }));
  REQUIRE(f.ask<bool>(cancel_atom::value, stopped));
  f.run();
  auto heard = notifications(who);
  REQUIRE(heard.size() == 2);
  CHECK(heard[0].batch_id == done);
  CHECK(heard[0].status == batch_state::completed);
  CHECK(heard[1].batch_id == stopped);
  CHECK(heard[1].status == batch_state::cancelled);
}

TEST_CASE("a subscriber is monitored once for all its subscriptions, and forgotten after the last") {
  fleet_fixture f;
  f.start();
  auto subscriptions = [&] { return f.metrics().subscriptions.value(); };
  auto subscribers = [&] { return f.metrics().subscribers.value(); };
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i)
    ids.push_back(f.submit_ok(sleep_tasks(1, 100 * (i + 1), "b" + std::to_string(i) + "-")));
  {
    caf::scoped_actor who{f.sys()};
    caf::scoped_actor other{f.sys()};
    for (const auto& id : ids)
      REQUIRE(subscribe(f, who, id));
    REQUIRE(subscribe(f, other, ids[2]));
    CHECK(subscriptions() == 4);
    CHECK(subscribers() == 2);
    REQUIRE(f.advance_until([&] { return f.finished(ids[1]); }));
    CHECK(subscriptions() == 2); // who still waits for ids[2], and so does other
    CHECK(subscribers() == 2);
    REQUIRE(f.advance_until([&] { return f.finished(ids[2]); }));
    CHECK(subscriptions() == 0);
    CHECK(subscribers() == 0);
    CHECK(notifications(who).size() == 3);
    CHECK(notifications(other).size() == 1);
    // A subscription to every batch lasts until the subscriber goes away.
    REQUIRE(subscribe(f, who, ""));
    REQUIRE(subscribe(f, other, ""));
    auto pending = f.submit_ok(sleep_tasks(1, 60'000, "long-"));
    REQUIRE(subscribe(f, who, pending));
    CHECK(subscriptions() == 3);
    CHECK(subscribers() == 2);
  } // both subscribers die here
  f.run();
  CHECK(subscriptions() == 0);
  CHECK(subscribers() == 0);
}
