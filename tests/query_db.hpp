#pragma once

#include "fleetd/error.hpp"
#include "fleet/sqlite.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace fleet::test {

/// A read-only look at a database file, as an operator would take: one integer from `sql`.
inline int64_t query_db_int(const std::string& path, const std::string& sql) {
  auto db = sqlite::database::open(path, false);
  REQUIRE(db);
  auto value = db->query_int(sql);
  REQUIRE_MESSAGE(value, (value ? "" : error_text(value.error())));
  return *value;
}

/// One text value from `sql` (NULL reads as empty).
inline std::string query_db_text(const std::string& path, const std::string& sql) {
  auto db = sqlite::database::open(path, false);
  REQUIRE(db);
  auto st = db->prepare(sql);
  REQUIRE_MESSAGE(st, (st ? "" : error_text(st.error())));
  auto row = st->step();
  REQUIRE(row);
  REQUIRE(*row);
  return st->column_text(0);
}

/// The first column of every row of `sql`, as text.
inline std::vector<std::string> query_db_texts(const std::string& path, const std::string& sql) {
  auto db = sqlite::database::open(path, false);
  REQUIRE(db);
  auto st = db->prepare(sql);
  REQUIRE_MESSAGE(st, (st ? "" : error_text(st.error())));
  std::vector<std::string> out;
  while (true) {
    auto row = st->step();
    REQUIRE(row);
    if (!*row)
      return out;
    out.push_back(st->column_text(0));
  }
}

/// SQLite's verdict on the file: "ok" or the first problems it found.
inline std::string integrity_check(const std::string& path) {
  auto db = sqlite::database::open(path, false);
  REQUIRE(db);
  auto st = db->prepare("PRAGMA integrity_check");
  REQUIRE(st);
  auto row = st->step();
  REQUIRE(row);
  REQUIRE(*row);
  return st->column_text(0);
}

} // namespace fleet::test
