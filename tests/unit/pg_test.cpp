// The libpq layer and the PostgreSQL schema's migrations, on a private server (tests/pg_fixture.hpp).

#include "fleet/pg.hpp"
#include "fleet/pg_migrations.hpp"
#include "fleetd/error.hpp"
#include "pg_fixture.hpp"

#include <doctest/doctest.h>

#include <thread>

using namespace fleet;
using fleet::test::code_of;
using fleet::test::count;
using fleet::test::pg_database;

namespace {

int64_t tables_in(pg::connection& db, const std::string& schema) {
  auto n = db.query_int("SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = $1", schema);
  REQUIRE_MESSAGE(n, error_text(n.error()));
  return *n;
}

} // namespace

TEST_CASE("pg: parameters, NULLs and text round-trip, and the connection is named without secrets") {
  pg_database database;
  auto db = database.connect();
  CHECK(db.usable());
  CHECK(db.where().database == database.name());
  CHECK(db.where().text().find(database.name()) != std::string::npos);
  REQUIRE_FALSE(db.exec("CREATE TABLE t (id BIGINT PRIMARY KEY, note TEXT)"));
  std::string tricky = "it's \"quoted\"; DROP TABLE t; -- \xc3\xa9";
  auto inserted = db.query("INSERT INTO t VALUES ($1, $2), ($3, $4)", int64_t{1}, tricky, int64_t{-2}, nullptr);
  REQUIRE_MESSAGE(inserted, error_text(inserted.error()));
  CHECK(inserted->affected() == 2);
  auto rows = db.query("SELECT id, note FROM t ORDER BY id");
  REQUIRE(rows);
  REQUIRE(rows->rows() == 2);
  CHECK(*rows->int64(0, 0) == -2);
  CHECK(rows->is_null(0, 1));
  CHECK(rows->text(1, 1) == tricky);
  // Not an integer: an error naming the column, not a silent 0.
  auto wrong = rows->int64(1, 1);
  REQUIRE_FALSE(wrong);
  CHECK(error_text(wrong.error()).find("note") != std::string::npos);
  auto name = db.query("SELECT current_setting('application_name')");
  REQUIRE(name);
  CHECK(name->text(0, 0) == "fleetd");
}

TEST_CASE("pg: bytes that are not UTF-8 are refused with PostgreSQL's reason and store nothing") {
  pg_database database;
  auto db = database.connect();
  REQUIRE_FALSE(db.exec("CREATE TABLE t (note TEXT)"));
  auto refused = db.query("INSERT INTO t VALUES ($1)", std::string{"ok \xff\xfe bad"});
  REQUIRE_FALSE(refused);
  CHECK(code_of(refused.error()) == errc::database_error);
  CHECK(error_text(refused.error()).find("SQLSTATE 22021") != std::string::npos);
  CHECK(count(db, "SELECT count(*) FROM t") == 0);
  CHECK(db.usable());
}

TEST_CASE("pg: a refused statement names its SQLSTATE, and the connection goes on") {
  pg_database database;
  auto db = database.connect();
  auto err = db.exec("SELECT * FROM no_such_table");
  REQUIRE(err);
  CHECK(code_of(err) == errc::database_error);
  CHECK(error_text(err).find("no_such_table") != std::string::npos);
  CHECK(error_text(err).find("SQLSTATE 42P01") != std::string::npos);
  CHECK(count(db, "SELECT 41 + 1") == 42);
}

TEST_CASE("pg: a statement bound with the wrong number of parameters is fleetd's error, not the server's") {
  pg_database database;
  auto db = database.connect();
  auto wrong = db.query("SELECT $1::int", int64_t{1}, int64_t{2});
  REQUIRE_FALSE(wrong);
  CHECK(code_of(wrong.error()) == errc::database_error);
  CHECK(db.usable());
  CHECK(count(db, "SELECT 7") == 7);
}

TEST_CASE("pg: prepared statements are made once per text and reused, also across a rollback") {
  pg_database database;
  auto db = database.connect();
  REQUIRE_FALSE(db.exec("CREATE TABLE t (id BIGINT)"));
  auto prepared_count = [&] { return count(db, "SELECT count(*) FROM pg_prepared_statements"); };
  for (int64_t i = 0; i < 3; ++i)
    REQUIRE(db.prepared("INSERT INTO t VALUES ($1)", i));
  CHECK(prepared_count() == 1);
  {
    pg::transaction tx{db};
    REQUIRE_FALSE(tx.begin());
    REQUIRE(db.prepared("INSERT INTO t VALUES ($1)", int64_t{99}));
    REQUIRE(db.prepared_int("SELECT count(*) FROM t WHERE id > $1", int64_t{0}));
  } // rolled back: the rows go, the statements stay
  CHECK(prepared_count() == 2);
  CHECK(*db.prepared_int("SELECT count(*) FROM t WHERE id > $1", int64_t{0}) == 2);
  CHECK(prepared_count() == 2);
  // A statement the server refuses is not kept; one that fails when run stays usable.
  auto refused = db.prepared("SELEC broken");
  REQUIRE_FALSE(refused);
  CHECK(error_text(refused.error()).find("SQLSTATE 42601") != std::string::npos);
  CHECK(prepared_count() == 2);
  auto failed = db.prepared("SELECT 1 / $1::int", int64_t{0});
  REQUIRE_FALSE(failed);
  auto again = db.prepared_int("SELECT 10 / $1::int", int64_t{2});
  REQUIRE(again);
  CHECK(*again == 5);
  CHECK(count(db, "SELECT sum(id) FROM t") == 3);
}

TEST_CASE("pg: connection strings that are wrong, and servers that are not there") {
  SUBCASE("unparsable: invalid_config, and the password is not repeated") {
    auto c = pg::connection::open("host=localhost password=hunter2 port");
    REQUIRE_FALSE(c);
    CHECK(code_of(c.error()) == errc::invalid_config);
    CHECK(error_text(c.error()).find("hunter2") == std::string::npos);
  }
  SUBCASE("nobody listens: storage_unavailable, the password not repeated") {
    auto c = pg::connection::open("host=/nonexistent/fleetd-socket-dir port=5999 password=hunter2 connect_timeout=2");
    REQUIRE_FALSE(c);
    CHECK(code_of(c.error()) == errc::storage_unavailable);
    CHECK(error_text(c.error()).find("cannot connect to PostgreSQL") != std::string::npos);
    CHECK(error_text(c.error()).find("hunter2") == std::string::npos);
  }
  SUBCASE("a database that does not exist") {
    pg_database database;
    auto c = pg::connection::open(database.conninfo("dbname=fleetd_no_such_database"));
    REQUIRE_FALSE(c);
    CHECK(error_text(c.error()).find("fleetd_no_such_database") != std::string::npos);
  }
}

TEST_CASE("pg: a transaction not committed leaves nothing, a committed one stays") {
  pg_database database;
  auto db = database.connect();
  REQUIRE_FALSE(db.exec("CREATE TABLE t (id BIGINT)"));
  {
    pg::transaction tx{db};
    REQUIRE_FALSE(tx.begin());
    REQUIRE(db.query("INSERT INTO t VALUES (1)"));
  } // no commit: rolled back
  CHECK(count(db, "SELECT count(*) FROM t") == 0);
  {
    pg::transaction tx{db};
    REQUIRE_FALSE(tx.begin());
    REQUIRE(db.query("INSERT INTO t VALUES (2)"));
    REQUIRE_FALSE(tx.commit());
  }
  CHECK(count(db, "SELECT sum(id) FROM t") == 2);
}

TEST_CASE("pg: a server that drops the session is storage_unavailable, and the connection says it is gone") {
  pg_database database;
  auto db = database.connect();
  auto admin = database.admin_connection();
  auto killed = admin.query_int("SELECT count(*) FROM pg_terminate_backend($1) WHERE pg_terminate_backend",
                                int64_t{db.backend_pid()});
  REQUIRE_MESSAGE(killed, error_text(killed.error()));
  REQUIRE(*killed == 1);
  auto after = db.query("SELECT 1");
  REQUIRE_FALSE(after);
  CHECK(code_of(after.error()) == errc::storage_unavailable);
  CHECK_FALSE(db.usable());
}

TEST_CASE("pg migrate: a fresh database gets the latest schema once") {
  pg_database database;
  auto db = database.connect();
  REQUIRE_MESSAGE(!migrate(db), "first migration");
  auto latest = postgres_migrations().back().version;
  CHECK(count(db, "SELECT version FROM fleetd_schema") == latest);
  CHECK(count(db, "SELECT count(*) FROM leader_lease") == 1);
  auto tables = tables_in(db, "public");
  REQUIRE_FALSE(migrate(db)); // again: nothing to do
  CHECK(tables_in(db, "public") == tables);
  CHECK(count(db, "SELECT count(*) FROM leader_lease") == 1);
}

TEST_CASE("pg migrate: a database of version 2 with work in it comes to the latest with its rows") {
  pg_database database;
  auto db = database.connect();
  std::vector<migration> up_to_2;
  for (const auto& step : postgres_migrations())
    if (step.version <= 2)
      up_to_2.push_back(step);
  REQUIRE(up_to_2.size() == 2);
  REQUIRE_FALSE(migrate(db, up_to_2));
  REQUIRE_FALSE(db.exec("INSERT INTO batches (id, created_at, total) VALUES ('b', 1, 1);"
                        "INSERT INTO tasks (seq, batch_id, task_id, type, data) VALUES (1, 'b', 't', 'echo', '{}');"
                        "INSERT INTO attempts (task_seq, attempt, worker_id, started_at, epoch) VALUES (1, 1, 'w', 1, 1)"));
  auto keys = [&] {
    return count(db, "SELECT count(*) FROM pg_catalog.pg_constraint WHERE contype = 'f'"
                     " AND conrelid IN ('tasks'::regclass, 'attempts'::regclass)");
  };
  CHECK(keys() == 2);
  REQUIRE_FALSE(migrate(db));
  CHECK(count(db, "SELECT version FROM fleetd_schema") == postgres_migrations().back().version);
  CHECK(keys() == 0);
  CHECK(count(db, "SELECT count(*) FROM tasks t JOIN batches b ON b.id = t.batch_id JOIN attempts a ON a.task_seq = t.seq")
        == 1);
}

TEST_CASE("pg migrate: a newer schema is refused and left as it is") {
  pg_database database;
  auto db = database.connect();
  REQUIRE_FALSE(migrate(db));
  auto newer = postgres_migrations().back().version + 1;
  REQUIRE(db.query("UPDATE fleetd_schema SET version = $1", int64_t{newer}));
  auto err = migrate(db);
  REQUIRE(err);
  CHECK(code_of(err) == errc::schema_too_new);
  CHECK(error_text(err).find("upgrade fleetd") != std::string::npos);
  CHECK(count(db, "SELECT version FROM fleetd_schema") == newer);
}

TEST_CASE("pg migrate: a schema with someone else's tables is not fleetd's, and nothing is created") {
  pg_database database;
  auto db = database.connect();
  SUBCASE("an application's table") {
    REQUIRE_FALSE(db.exec("CREATE TABLE customers (id INT)"));
    auto err = migrate(db);
    REQUIRE(err);
    CHECK(code_of(err) == errc::not_a_fleet_db);
    CHECK(error_text(err).find("\"public\"") != std::string::npos);
    CHECK(tables_in(db, "public") == 1);
  }
  SUBCASE("a fleetd_schema table that is not fleetd's mark") {
    REQUIRE_FALSE(db.exec("CREATE TABLE fleetd_schema (id INT PRIMARY KEY, application TEXT, version INT);"
                          "INSERT INTO fleetd_schema VALUES (1, 'other', 1)"));
    auto err = migrate(db);
    REQUIRE(err);
    CHECK(code_of(err) == errc::not_a_fleet_db);
    CHECK(tables_in(db, "public") == 1);
  }
}

TEST_CASE("pg migrate: an extension's views in the schema are not someone else's tables") {
  pg_database database;
  auto db = database.connect();
  // pg_stat_statements puts two views into public: an operator measuring fleetd installs it.
  REQUIRE_FALSE(db.exec("CREATE EXTENSION pg_stat_statements"));
  auto err = migrate(db);
  REQUIRE_MESSAGE(!err, error_text(err));
  CHECK(count(db, "SELECT version FROM fleetd_schema") == postgres_migrations().back().version);
}

TEST_CASE("pg migrate: a failing step changes nothing (DDL is transactional)") {
  pg_database database;
  auto db = database.connect();
  std::vector<migration> steps{{1, "0001_good", "CREATE TABLE fleetd_schema (id INT PRIMARY KEY, application TEXT "
                                                "NOT NULL, version INT NOT NULL); CREATE TABLE a (x INT);"},
                               {2, "0002_bad", "CREATE TABLE b (x INT); SELECT no_such_function();"}};
  auto err = migrate(db, steps);
  REQUIRE(err);
  CHECK(error_text(err).find("0002_bad") != std::string::npos);
  CHECK(tables_in(db, "public") == 0);
  CHECK(db.usable());
}

TEST_CASE("pg migrate: fleetd processes starting together migrate once") {
  pg_database database;
  std::vector<std::thread> starters;
  std::vector<caf::error> results(4);
  for (size_t i = 0; i < results.size(); ++i)
    starters.emplace_back([&, i] {
      auto c = pg::connection::open(database.conninfo());
      results[i] = c ? migrate(*c) : c.error();
    });
  for (auto& t : starters)
    t.join();
  for (const auto& r : results)
    CHECK_MESSAGE(!r, error_text(r));
  auto db = database.connect();
  CHECK(count(db, "SELECT count(*) FROM fleetd_schema") == 1);
  CHECK(count(db, "SELECT count(*) FROM leader_lease") == 1);
}

TEST_CASE("pg migrate: a schema of its own through search_path, beside an application's tables") {
  pg_database database;
  {
    auto app = database.connect();
    REQUIRE_FALSE(app.exec("CREATE TABLE customers (id INT); CREATE SCHEMA fleet"));
  }
  auto db = database.connect("options=-csearch_path=fleet");
  REQUIRE_MESSAGE(!migrate(db), "migration into schema fleet");
  CHECK(tables_in(db, "fleet") > 0);
  CHECK(tables_in(db, "public") == 1);
  CHECK(count(db, "SELECT count(*) FROM fleet.leader_lease") == 1);
}
