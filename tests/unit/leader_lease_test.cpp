// The leader lease on PostgreSQL (issue 24): terms, renewal, takeover, release and fencing. Time is
// never waited for: a lease runs out because a test moves its expiry into the past on the server,
// and `held` is asked about chosen points of the monotonic clock.

#include "fleet/leader_lease.hpp"
#include "fleet/pg_migrations.hpp"
#include "fleetd/error.hpp"
#include "pg_fixture.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

using namespace fleet;
using namespace std::chrono_literals;
using fleet::test::code_of;
using fleet::test::count;
using fleet::test::pg_database;

namespace {

pg::connection migrated(const pg_database& database) {
  auto db = database.connect();
  auto err = migrate(db);
  REQUIRE_MESSAGE(!err, error_text(err));
  return db;
}

/// What a holder that stopped renewing looks like once its ttl passed.
void expire(pg::connection& db) {
  auto moved = db.query("UPDATE leader_lease SET expires_at = clock_timestamp() - interval '1 second'");
  REQUIRE_MESSAGE(moved, error_text(moved.error()));
}

bool acquire(leader_lease& lease, pg::connection& db) {
  auto got = lease.try_acquire(db);
  REQUIRE_MESSAGE(got, error_text(got.error()));
  return *got;
}

} // namespace

TEST_CASE("lease: the first fleetd takes term 1, a second one waits while it is held") {
  pg_database database;
  auto db = migrated(database);
  auto none = leader_lease::current(db);
  REQUIRE(none);
  CHECK(none->holder.empty());
  CHECK(none->epoch == 0);
  CHECK(none->ms_left <= 0);

  leader_lease a{"fleetd-a", 10s};
  leader_lease b{"fleetd-b", 10s};
  CHECK_FALSE(a.held());
  REQUIRE(acquire(a, db));
  CHECK(a.epoch() == 1);
  CHECK(a.held());
  CHECK_FALSE(acquire(b, db));
  CHECK(b.epoch() == 0);
  CHECK_FALSE(b.held());
  auto now = leader_lease::current(db);
  REQUIRE(now);
  CHECK(now->holder == "fleetd-a");
  CHECK(now->epoch == 1);
  CHECK(now->ms_left > 5'000);
  CHECK(now->ms_left <= 10'000);
  CHECK(count(db, "SELECT count(*) FROM leader_terms WHERE holder = 'fleetd-a' AND epoch = 1") == 1);
}

TEST_CASE("lease: held answers from the local clock alone, ending a margin before the ttl") {
  pg_database database;
  auto db = migrated(database);
  leader_lease a{"fleetd-a", 10s};
  auto t0 = leader_lease::clock::now();
  REQUIRE(a.try_acquire(db, t0).value());
  CHECK(a.held(t0));
  CHECK(a.held(t0 + 8s));
  CHECK_FALSE(a.held(t0 + 9s)); // 10 s less the margin of a tenth
  CHECK_FALSE(a.held(t0 + 10s));
  // A renewal sent later moves the local deadline from when it was sent.
  REQUIRE_FALSE(a.renew(db, t0 + 5s));
  CHECK(a.held(t0 + 13s));
  CHECK_FALSE(a.held(t0 + 14s));
}

TEST_CASE("lease: a standby takes over an expired lease, and the old holder's term is over for good") {
  pg_database database;
  auto db = migrated(database);
  leader_lease a{"fleetd-a", 10s};
  leader_lease b{"fleetd-b", 10s};
  REQUIRE(acquire(a, db));
  REQUIRE_FALSE(a.renew(db));
  expire(db);
  REQUIRE(acquire(b, db));
  CHECK(b.epoch() == 2);
  auto renewed = a.renew(db);
  REQUIRE(renewed);
  CHECK(code_of(renewed) == errc::not_leader);
  CHECK(error_text(renewed).find("fleetd-a") != std::string::npos);
  CHECK_FALSE(a.held());
  // Not even once b's lease runs out: a must start again as a standby, with a new term.
  expire(db);
  CHECK(code_of(a.renew(db)) == errc::not_leader);
  CHECK(count(db, "SELECT count(*) FROM leader_terms") == 2);
  REQUIRE(acquire(a, db));
  CHECK(a.epoch() == 3);
}

TEST_CASE("lease: a lease that ran out but was not taken is renewed in the same term") {
  pg_database database;
  auto db = migrated(database);
  leader_lease a{"fleetd-a", 10s};
  REQUIRE(acquire(a, db));
  expire(db);
  REQUIRE_FALSE(a.renew(db));
  CHECK(a.epoch() == 1);
  auto now = leader_lease::current(db);
  REQUIRE(now);
  CHECK(now->ms_left > 5'000);
}

TEST_CASE("lease: a released lease is taken at once, and the term records its clean end") {
  pg_database database;
  auto db = migrated(database);
  leader_lease a{"fleetd-a", 10s};
  leader_lease b{"fleetd-b", 10s};
  REQUIRE(acquire(a, db));
  REQUIRE_FALSE(a.release(db));
  CHECK_FALSE(a.held());
  REQUIRE(acquire(b, db)); // no expiry needed
  CHECK(b.epoch() == 2);
  CHECK(count(db, "SELECT count(*) FROM leader_terms WHERE epoch = 1 AND released_at IS NOT NULL") == 1);
  CHECK(count(db, "SELECT count(*) FROM leader_terms WHERE epoch = 2 AND released_at IS NULL") == 1);
  // Releasing a term that is over already changes nothing.
  REQUIRE_FALSE(a.release(db));
  auto now = leader_lease::current(db);
  REQUIRE(now);
  CHECK(now->holder == "fleetd-b");
}

TEST_CASE("lease fencing: after a takeover the old holder's write fails and stores nothing") {
  pg_database database;
  auto db = migrated(database);
  REQUIRE_FALSE(db.exec("CREATE TABLE work (note TEXT)"));
  leader_lease a{"fleetd-a", 10s};
  leader_lease b{"fleetd-b", 10s};
  REQUIRE(acquire(a, db));
  {
    pg::transaction tx{db};
    REQUIRE_FALSE(tx.begin());
    REQUIRE_FALSE(a.fence(db));
    REQUIRE(db.query("INSERT INTO work VALUES ('a, term 1')"));
    REQUIRE_FALSE(tx.commit());
  }
  // a is paused past its lease (SIGSTOP); b takes over; a resumes and tries its next write.
  expire(db);
  REQUIRE(acquire(b, db));
  {
    pg::transaction tx{db};
    REQUIRE_FALSE(tx.begin());
    auto fenced = a.fence(db);
    REQUIRE(fenced);
    CHECK(code_of(fenced) == errc::not_leader);
  } // the caller gives up: rolled back
  CHECK(count(db, "SELECT count(*) FROM work") == 1);
  auto bdb = database.connect();
  pg::transaction tx{bdb};
  REQUIRE_FALSE(tx.begin());
  CHECK_FALSE(b.fence(bdb));
}

TEST_CASE("lease fencing: a takeover waits for the holder's write in flight to commit") {
  pg_database database;
  auto adb = migrated(database);
  REQUIRE_FALSE(adb.exec("CREATE TABLE work (note TEXT)"));
  leader_lease a{"fleetd-a", 10min}; // b's lock wait (a tenth) outlasts the test
  leader_lease b{"fleetd-b", 10min};
  REQUIRE(acquire(a, adb));
  expire(adb); // a stopped renewing; nobody took over yet, so its term goes on
  pg::transaction tx{adb};
  REQUIRE_FALSE(tx.begin());
  REQUIRE_FALSE(a.fence(adb));
  REQUIRE(adb.query("INSERT INTO work VALUES ('in flight')"));

  auto bdb = database.connect();
  auto b_pid = bdb.backend_pid();
  std::atomic<int> b_result{-1};
  std::thread standby{[&] {
    auto got = b.try_acquire(bdb);
    b_result = got ? (*got ? 1 : 0) : 2;
  }};
  // Until b's statement waits for a's lock (asked of the server, never timed).
  auto admin = database.admin_connection();
  for (int i = 0; i < 6'000; ++i) {
    auto blocked = admin.query_int("SELECT cardinality(pg_blocking_pids($1))", int64_t{b_pid});
    REQUIRE(blocked);
    if (*blocked > 0)
      break;
    std::this_thread::sleep_for(10ms);
  }
  CHECK(b_result == -1);
  REQUIRE_FALSE(tx.commit());
  standby.join();
  CHECK(b_result == 1);
  CHECK(b.epoch() == 2);
  CHECK(count(adb, "SELECT count(*) FROM work") == 1);
  pg::transaction next{adb};
  REQUIRE_FALSE(next.begin());
  CHECK(code_of(a.fence(adb)) == errc::not_leader);
}

TEST_CASE("lease fencing: a renewal does not wait for the holder's write in flight, and a held lease is never locked") {
  pg_database database;
  auto wdb = migrated(database);
  leader_lease a{"fleetd-a", 10min};
  leader_lease b{"fleetd-b", 10min};
  REQUIRE(acquire(a, wdb));
  pg::transaction tx{wdb};
  REQUIRE_FALSE(tx.begin());
  REQUIRE_FALSE(a.fence(wdb)); // a long write (a big submit) holds the row from here on
  // On connections that give up after a second instead of waiting: a renewal, and a standby's look.
  auto rdb = database.connect("options='-c statement_timeout=1000'");
  auto renewed = a.renew(rdb);
  CHECK_MESSAGE(!renewed, error_text(renewed));
  auto sdb = database.connect("options='-c statement_timeout=1000'");
  auto taken = b.try_acquire(sdb);
  REQUIRE_MESSAGE(taken, error_text(taken.error()));
  CHECK_FALSE(*taken);
  REQUIRE_FALSE(tx.commit());
  CHECK(count(wdb, "SELECT epoch FROM leader_lease") == 1);
}

TEST_CASE("lease fencing: a holder paused inside a write loses it, and its write with it") {
  pg_database database;
  auto adb = migrated(database);
  REQUIRE_FALSE(adb.exec("CREATE TABLE work (note TEXT)"));
  leader_lease a{"fleetd-a", 200ms};
  leader_lease b{"fleetd-b", 200ms};
  REQUIRE(acquire(a, adb));
  pg::transaction tx{adb};
  REQUIRE_FALSE(tx.begin());
  REQUIRE_FALSE(a.fence(adb));
  REQUIRE(adb.query("INSERT INTO work VALUES ('paused')"));
  // fleetd guards its session right after connecting; here only now, so that a slow moment of
  // this machine between the statements above cannot end the session early. From here on, the
  // server ends it 100 ms after a's last word.
  REQUIRE_FALSE(leader_lease::guard_session(adb, a.ttl()));
  // a is paused here. b tries at each turn; the loop is bounded, not the time it takes.
  auto bdb = migrated(database);
  bool taken = false;
  for (int i = 0; i < 600 && !taken; ++i) {
    taken = acquire(b, bdb);
    if (!taken)
      std::this_thread::sleep_for(50ms);
  }
  REQUIRE(taken);
  CHECK(b.epoch() == 2);
  // a wakes up and commits: its session is gone, and so is its write.
  auto committed = tx.commit();
  REQUIRE(committed);
  CHECK(code_of(committed) == errc::storage_unavailable);
  CHECK(count(bdb, "SELECT count(*) FROM work") == 0);
}

TEST_CASE("lease: of standbys that try at once, exactly one takes the term") {
  pg_database database;
  auto db = migrated(database);
  leader_lease old{"fleetd-old", 10s};
  REQUIRE(acquire(old, db));
  expire(db);
  constexpr int standbys = 4;
  std::vector<std::thread> threads;
  std::atomic<int> winners{0};
  std::atomic<int> errors{0};
  for (int i = 0; i < standbys; ++i)
    threads.emplace_back([&, i] {
      auto c = pg::connection::open(database.conninfo());
      if (!c) {
        ++errors;
        return;
      }
      leader_lease lease{"fleetd-" + std::to_string(i), 10s};
      auto got = lease.try_acquire(*c);
      if (!got)
        ++errors;
      else if (*got)
        ++winners;
    });
  for (auto& t : threads)
    t.join();
  CHECK(errors == 0);
  CHECK(winners == 1);
  CHECK(count(db, "SELECT count(*) FROM leader_terms") == 2);
  CHECK(count(db, "SELECT epoch FROM leader_lease") == 2);
}
