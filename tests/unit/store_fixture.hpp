#pragma once

#include "fleet/sqlite.hpp"
#include "fleet/store.hpp"
#include "fleet/upload_rows.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

namespace fleet::test {

/// A store on a fresh file in a temporary directory.
struct store_fixture {
  temp_dir dir;
  std::string path = dir.file("fleet.db");
  std::unique_ptr<fleet_store> store;
  store_fixture() {
    auto s = fleet_store::open({path, "normal"});
    REQUIRE(s);
    store = std::move(*s);
  }
  void insert(const std::string& id, std::vector<task> tasks) {
    auto tx = store->transaction();
    REQUIRE_FALSE(tx.begin());
    REQUIRE_FALSE(store->insert_batch(id, tasks, 1000));
    REQUIRE_FALSE(tx.commit());
  }
};

/// SQLite's plan for `sql` on the file at `path`, one line per step, on a connection that knows
/// fleetd's functions.
inline std::string query_plan(const std::string& path, const std::string& sql) {
  auto db = sqlite::database::open(path, false);
  REQUIRE(db);
  REQUIRE_FALSE(register_upload_rows(db->handle()));
  auto st = db->prepare("EXPLAIN QUERY PLAN " + sql);
  REQUIRE(st);
  std::string plan;
  while (*st->step())
    plan += st->column_text(3) + "\n";
  return plan;
}

} // namespace fleet::test
