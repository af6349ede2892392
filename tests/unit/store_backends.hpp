#pragma once

// The two store backends as the conformance suites see them (issue 24): a fleet_store on a fresh
// SQLite file or a fresh PostgreSQL database, with an auditor's reads and writes on a connection of
// their own. Suites run each case on both with TEST_CASE_TEMPLATE(name, B, STORE_BACKENDS), so
// that what one backend does and the other does not fails there (Zeek Broker tests its backends
// this way).

#include "fleet/archive.hpp"
#include "fleet/batch_tasks.hpp"
#include "fleet/pg_archive.hpp"
#include "fleet/pg_batch_tasks.hpp"
#include "fleet/pg_store.hpp"
#include "fleet/sqlite.hpp"
#include "fleet/store.hpp"
#include "fleetd/error.hpp"
#include "pg_fixture.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

namespace fleet::test {

/// How the auditor's row dumps show a NULL.
inline const std::string null_text = "<null>";

/// Each row's columns joined by '|'.
inline std::vector<std::string> joined(const std::vector<std::vector<std::string>>& cells) {
  std::vector<std::string> out;
  for (const auto& row : cells) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c)
      line += (c > 0 ? "|" : "") + row[c];
    out.push_back(std::move(line));
  }
  return out;
}

struct sqlite_backend {
  temp_dir dir;
  std::string path = dir.file("fleet.db");
  std::unique_ptr<fleet_store> store;
  sqlite_backend() { reopen(); }
  /// A new store on the same data, as after a restart (the old one is closed first).
  void reopen() {
    store.reset();
    auto s = fleet_store::open({path, "normal"});
    REQUIRE(s);
    store = std::move(*s);
  }
  /// An auditor's query on another connection: what was committed.
  int64_t q(const std::string& sql) {
    auto db = sqlite::database::open(path, false);
    REQUIRE(db);
    auto n = db->query_int(sql);
    REQUIRE_MESSAGE(n, error_text(n.error()));
    return *n;
  }
  /// An operator's change, outside the store.
  void exec(const std::string& sql) {
    auto db = sqlite::database::open(path, false);
    REQUIRE(db);
    auto err = db->exec(sql);
    REQUIRE_MESSAGE(!err, error_text(err));
  }
  /// Every row of `sql`, each column as text (null_text for NULL).
  std::vector<std::vector<std::string>> cells(const std::string& sql) {
    auto db = sqlite::database::open(path, false);
    REQUIRE(db);
    auto st = db->prepare(sql);
    REQUIRE_MESSAGE(st, error_text(st.error()));
    std::vector<std::vector<std::string>> out;
    auto err = st->each_row([&] {
      auto& row = out.emplace_back();
      for (int c = 0; c < st->column_count(); ++c)
        row.push_back(st->column_is_null(c) ? null_text : st->column_text(c));
    });
    REQUIRE_MESSAGE(!err, error_text(err));
    return out;
  }
  std::vector<std::string> rows(const std::string& sql) { return joined(cells(sql)); }
  /// The status page's batch view.
  caf::expected<task_rows_page> task_page(const std::string& id, int64_t cursor, int64_t limit) {
    return read_batch_tasks(path, id, cursor, limit);
  }
  /// fleet.archive-dir's archive of one batch.
  caf::expected<archive_written> archive(const std::string& dir, const std::string& id, int64_t finished_at) {
    return archive_batch(path, dir, id, finished_at);
  }
};

struct postgres_backend {
  pg_database db;
  std::unique_ptr<fleet_store> store;
  pg::connection audit = db.connect();
  postgres_backend() { reopen(); }
  void reopen() {
    store.reset();
    auto s = pg_store::open(db.conninfo());
    REQUIRE_MESSAGE(s, error_text(s.error()));
    store = std::move(*s);
  }
  int64_t q(const std::string& sql) { return count(audit, sql); }
  void exec(const std::string& sql) {
    auto err = audit.exec(sql);
    REQUIRE_MESSAGE(!err, error_text(err));
  }
  std::vector<std::vector<std::string>> cells(const std::string& sql) {
    auto res = audit.query(sql);
    REQUIRE_MESSAGE(res, error_text(res.error()));
    std::vector<std::vector<std::string>> out;
    for (int r = 0; r < res->rows(); ++r) {
      auto& row = out.emplace_back();
      for (int c = 0; c < res->columns(); ++c)
        row.push_back(res->is_null(r, c) ? null_text : std::string{res->text(r, c)});
    }
    return out;
  }
  std::vector<std::string> rows(const std::string& sql) { return joined(cells(sql)); }
  pg_batch_tasks pages{db.conninfo()};
  caf::expected<task_rows_page> task_page(const std::string& id, int64_t cursor, int64_t limit) {
    return pages.read(id, cursor, limit);
  }
  caf::expected<archive_written> archive(const std::string& dir, const std::string& id, int64_t finished_at) {
    return pg_archive{db.conninfo(), dir}.write(id, finished_at);
  }
};

#define STORE_BACKENDS ::fleet::test::sqlite_backend, ::fleet::test::postgres_backend

/// Stores batch `id` with `tasks`, submitted at `now`, in a transaction of its own.
template <class B>
void insert(B& b, const std::string& id, const std::vector<task>& tasks, int64_t now = 1000) {
  auto tx = b.store->transaction();
  REQUIRE_FALSE(tx.begin());
  auto err = b.store->insert_batch(id, tasks, now);
  REQUIRE_MESSAGE(!err, error_text(err));
  REQUIRE_FALSE(tx.commit());
}

/// Records `changes` as one group commit.
template <class B>
fleet_store::milestones record_group(B& b, const std::vector<transition>& changes) {
  auto tx = b.store->transaction();
  REQUIRE_FALSE(tx.begin());
  auto out = b.store->record(changes);
  REQUIRE_MESSAGE(out, error_text(out.error()));
  REQUIRE_FALSE(tx.commit());
  return *out;
}

} // namespace fleet::test
