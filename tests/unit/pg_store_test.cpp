// What only the PostgreSQL store has: writes fenced by the leader lease, attempts that name their
// term, and two fleetd processes on one database one after the other. What both stores share is
// in store_conformance_test.cpp.

#include "fleet/leader_lease.hpp"
#include "fleet/pg_migrations.hpp"
#include "fleet/pg_store.hpp"
#include "fleetd/error.hpp"
#include "fleetd/queue.hpp"
#include "pg_fixture.hpp"

#include <doctest/doctest.h>

#include <chrono>

using namespace fleet;
using namespace std::chrono_literals;
using fleet::test::code_of;
using fleet::test::count;
using fleet::test::pg_database;

namespace {

std::unique_ptr<pg_store> open_pg_store(const pg_database& database, const leader_lease* lease) {
  auto s = pg_store::open(database.conninfo(), lease);
  REQUIRE_MESSAGE(s, error_text(s.error()));
  return std::move(*s);
}

bool take_lease(leader_lease& lease, pg::connection& db) {
  auto got = lease.try_acquire(db);
  REQUIRE_MESSAGE(got, error_text(got.error()));
  return *got;
}

caf::error submit_to(fleet_store& store, const std::string& id, const std::vector<task>& tasks) {
  auto tx = store.transaction();
  if (auto err = tx.begin())
    return err;
  if (auto err = store.insert_batch(id, tasks, 1000))
    return err;
  return tx.commit();
}

} // namespace

TEST_CASE("pg store: attempts carry the term of the leader that started them") {
  pg_database database;
  auto db = database.connect();
  REQUIRE_FALSE(migrate(db));
  leader_lease a{"fleetd-a", 10s};
  REQUIRE(take_lease(a, db));
  auto store = open_pg_store(database, &a);
  REQUIRE_FALSE(submit_to(*store, "b1", {{"x", "echo"}}));
  auto next = static_cast<fleet_store&>(*store).next_runnable(default_queue, 10);
  REQUIRE(next);
  REQUIRE(next->size() == 1);
  auto tx = store->transaction();
  REQUIRE_FALSE(tx.begin());
  REQUIRE_FALSE(store->record(attempt_started{(*next)[0].seq, "b1", "x", 1, "w1", 2000, {}}));
  REQUIRE_FALSE(tx.commit());
  CHECK(store->epoch() == a.epoch());
  CHECK(count(db, "SELECT epoch FROM attempts") == a.epoch());
  CHECK(count(db, "SELECT count(*) FROM task_history WHERE epoch = " + std::to_string(a.epoch())) == 1);
}

TEST_CASE("pg store: after a takeover the old leader's store writes nothing, the new one goes on after its seqs") {
  pg_database database;
  auto db = database.connect();
  REQUIRE_FALSE(migrate(db));
  leader_lease a{"fleetd-a", 10s};
  leader_lease b{"fleetd-b", 10s};
  REQUIRE(take_lease(a, db));
  auto old_leader = open_pg_store(database, &a);
  REQUIRE_FALSE(submit_to(*old_leader, "first", {{"x", "echo"}, {"y", "echo"}}));
  // a is paused past its lease; b takes over and opens its store.
  REQUIRE(db.query("UPDATE leader_lease SET expires_at = clock_timestamp() - interval '1 second'"));
  REQUIRE(take_lease(b, db));
  auto new_leader = open_pg_store(database, &b);
  auto fenced = submit_to(*old_leader, "late", {{"z", "echo"}});
  REQUIRE(fenced);
  CHECK(code_of(fenced) == errc::not_leader);
  CHECK(count(db, "SELECT count(*) FROM batches WHERE id = 'late'") == 0);
  REQUIRE_FALSE(submit_to(*new_leader, "second", {{"x", "echo"}}));
  CHECK(count(db, "SELECT first_seq FROM batches WHERE id = 'second'") == 3);
  CHECK(count(db, "SELECT count(*) FROM tasks") == 3);
}

TEST_CASE("pg store: bytes that are not UTF-8 are refused by the server, and nothing is stored") {
  pg_database database;
  auto store = open_pg_store(database, nullptr);
  auto err = submit_to(*store, "bad", {{"x", "echo", std::string{"{\"s\":\"\xff\xfe\"}"}}});
  REQUIRE(err);
  CHECK(code_of(err) == errc::database_error);
  auto db = database.connect();
  CHECK(count(db, "SELECT count(*) FROM batches") == 0);
  REQUIRE_FALSE(submit_to(*store, "good", {{"x", "echo"}}));
}

TEST_CASE("pg store: a newer schema is refused at open and left as it is") {
  pg_database database;
  auto db = database.connect();
  REQUIRE_FALSE(migrate(db));
  REQUIRE(db.query("UPDATE fleetd_schema SET version = version + 1"));
  auto s = pg_store::open(database.conninfo());
  REQUIRE_FALSE(s);
  CHECK(code_of(s.error()) == errc::schema_too_new);
  CHECK(count(db, "SELECT count(*) FROM fleetd_schema") == 1);
}

TEST_CASE("pg store: a task id repeated within one statement's rows is named by its position, and nothing is stored") {
  pg_database database;
  auto store = open_pg_store(database, nullptr);
  std::vector<task> tasks;
  for (int i = 0; i < 5000; ++i)
    tasks.push_back({"t" + std::to_string(i), "echo"});
  tasks[4500].id = "t4100"; // the second chunk repeats an id of its own
  auto err = submit_to(*store, "dup", tasks);
  REQUIRE(err);
  CHECK(code_of(err) == errc::duplicate_task_id);
  CHECK(error_text(err).find("4500") != std::string::npos);
  tasks[4500].id = "t7"; // now one of the first chunk
  err = submit_to(*store, "dup", tasks);
  REQUIRE(err);
  CHECK(error_text(err).find("4500") != std::string::npos);
  auto db = database.connect();
  CHECK(count(db, "SELECT count(*) FROM tasks") == 0);
}

TEST_CASE("pg store: a big submit writes in many statements and keeps submission order") {
  pg_database database;
  auto store = open_pg_store(database, nullptr);
  std::vector<task> tasks;
  for (int i = 0; i < 10'050; ++i)
    tasks.push_back({"t" + std::to_string(i), "echo", "{\"quote\":\"\\\"\",\t\"back\":\n\"\\\\\"\r}", i % 2});
  REQUIRE_FALSE(submit_to(*store, "big", tasks));
  auto db = database.connect();
  CHECK(count(db, "SELECT count(*) FROM tasks") == 10'050);
  CHECK(count(db, "SELECT count(*) FROM tasks WHERE seq - 1 <> substr(task_id, 2)::bigint") == 0);
  CHECK(count(db, "SELECT count(*) FROM tasks WHERE data <> E'{\"quote\":\"\\\\\"\",\\t\"back\":\\n\"\\\\\\\\\"\\r}'") == 0);
  auto next = static_cast<fleet_store&>(*store).next_runnable(default_queue, 3);
  REQUIRE(next);
  REQUIRE(next->size() == 3);
  CHECK((*next)[0].spec.id == "t1");
  CHECK((*next)[1].spec.id == "t3");
}

TEST_CASE("pg store: a session the server ended is opened again at the next transaction and the next read") {
  pg_database database;
  auto store = open_pg_store(database, nullptr);
  auto reader = store->open_reader();
  REQUIRE(reader);
  REQUIRE_FALSE(submit_to(*store, "before", {{"a", "echo"}}));
  auto admin = database.connect();
  auto end_sessions = [&] {
    REQUIRE(admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid()"));
  };
  end_sessions();
  // A batch with edges: the session's temporary table is back too.
  task second{"b", "echo"};
  second.after = {"a"};
  auto err = submit_to(*store, "after", {{"a", "echo"}, second});
  REQUIRE_MESSAGE(!err, error_text(err));
  CHECK(count(admin, "SELECT count(*) FROM task_deps") == 1);
  auto st = (*reader)->status("after");
  REQUIRE_MESSAGE(st, error_text(st.error()));
  CHECK(st->total == 2);
  // A session lost inside a transaction stays an error until the transaction ends: nothing of it
  // may go on outside it.
  {
    auto tx = store->transaction();
    REQUIRE_FALSE(tx.begin());
    end_sessions();
    auto inside = store->insert_batch("lost", {{"x", "echo"}}, 1000);
    REQUIRE(inside);
    CHECK(code_of(inside) == errc::storage_unavailable);
    CHECK(static_cast<fleet_store&>(*store).unfinished_batches().error() == errc::storage_unavailable);
  }
  CHECK(count(admin, "SELECT count(*) FROM batches WHERE id = 'lost'") == 0);
  REQUIRE_FALSE(submit_to(*store, "later", {{"z", "echo"}}));
  CHECK(count(admin, "SELECT count(*) FROM batches") == 3);
}
