#pragma once

// A fresh PostgreSQL database per test case, on the private server that CTest's postgres_server
// fixture starts (tests/postgres/server.sh). FLEETD_TEST_POSTGRES=CONNINFO points the suite at
// another server instead (it needs the right to CREATE DATABASE).

#include "fleet/pg.hpp"
#include "fleetd/error.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <random>
#include <stdexcept>
#include <string>

namespace fleet::test {

/// The connection string of the test server's maintenance database.
inline std::string postgres_admin_conninfo() {
  if (const char* env = std::getenv("FLEETD_TEST_POSTGRES"); env != nullptr && *env != '\0')
    return env;
  std::ifstream in{FLEET_PG_STATE_DIR "/conninfo"};
  std::string line;
  if (!std::getline(in, line) || line.empty())
    throw std::runtime_error("no test PostgreSQL: run the suite through ctest (its postgres_server fixture starts "
                             "one), or set FLEETD_TEST_POSTGRES");
  return line;
}

/// A new empty database, dropped (with its sessions) on destruction.
class pg_database {
public:
  pg_database() : admin_conninfo_(postgres_admin_conninfo()) {
    std::random_device rd;
    name_ = "fleetd_test_" + std::to_string(rd()) + "_" + std::to_string(rd());
    auto admin = admin_connection();
    if (auto err = admin.exec("CREATE DATABASE " + name_))
      throw std::runtime_error("CREATE DATABASE: " + error_text(err));
  }
  ~pg_database() {
    auto admin = pg::connection::open(admin_conninfo_);
    if (admin)
      (void)admin->exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)"); // best effort: names are unique
  }
  pg_database(const pg_database&) = delete;
  pg_database& operator=(const pg_database&) = delete;

  /// A connection string for this database (a later keyword wins in libpq's strings).
  std::string conninfo(const std::string& extra = {}) const {
    return admin_conninfo_ + " dbname=" + name_ + (extra.empty() ? "" : " " + extra);
  }

  pg::connection connect(const std::string& extra = {}) const {
    auto c = pg::connection::open(conninfo(extra));
    if (!c)
      throw std::runtime_error("connect: " + error_text(c.error()));
    return std::move(*c);
  }

  pg::connection admin_connection() const {
    auto c = pg::connection::open(admin_conninfo_);
    if (!c)
      throw std::runtime_error("connect to the test PostgreSQL: " + error_text(c.error()));
    return std::move(*c);
  }

  const std::string& name() const { return name_; }

private:
  std::string admin_conninfo_;
  std::string name_;
};

inline errc code_of(const caf::error& err) {
  return err.category() == error_category ? static_cast<errc>(err.code()) : errc::none;
}

/// The integer a query answers, or the test stops with the error.
inline int64_t count(pg::connection& db, const std::string& sql) {
  auto n = db.query_int(sql);
  REQUIRE_MESSAGE(n, error_text(n.error()));
  return *n;
}

} // namespace fleet::test
