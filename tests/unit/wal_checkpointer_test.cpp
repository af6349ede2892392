// The WAL checkpointer (src/fleet/wal_checkpointer.hpp): the writer's commits no longer copy the
// WAL into the database file, the thread does; past its bound the writer copies it itself, so the
// WAL stays bounded; when it stops the writer has SQLite's automatic checkpoint back; and a kill -9
// during commits and checkpoints keeps every commit that returned, whole (wal_rows.hpp).

#include "fleet/sqlite.hpp"
#include "fleet/wal_checkpointer.hpp"
#include "fleet/wal_coalescing_vfs.hpp"
#include "wal_rows.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <unistd.h>

using namespace fleet;
using fleet::test::temp_dir;

namespace checkpointer_test {

sqlite::database open_writer(const std::string& path) {
  auto db = fleet::test::open_rows_writer(path, true);
  REQUIRE(db);
  return std::move(*db);
}

/// One commit of rows first..last (four to a WAL frame).
void commit_rows(sqlite::database& db, int64_t first, int64_t last) {
  REQUIRE_FALSE(db.exec("BEGIN;" + fleet::test::insert_rows(first, last) + "COMMIT;"));
}

uintmax_t file_size(const std::string& path) {
  return std::filesystem::file_size(path);
}

int64_t query(sqlite::database& db, const std::string& sql) {
  auto n = db.query_int(sql);
  REQUIRE(n);
  return *n;
}

} // namespace checkpointer_test

using namespace checkpointer_test;

TEST_CASE("the writer's commits leave the WAL to the checkpointer's thread, which copies it") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  auto writer = open_writer(path);
  auto before = file_size(path);
  auto checkpointer = sqlite::wal_checkpointer::start(writer, path, "full", 100'000, 200'000);
  REQUIRE(checkpointer);
  // Past SQLite's automatic threshold (1,000 frames), far below the checkpointer's: nothing copied.
  for (int64_t i = 0; i < 15; ++i)
    commit_rows(writer, i * 400 + 1, i * 400 + 400);
  CHECK(file_size(path) == before);
  CHECK((*checkpointer)->done().by_writer == 0);
  (*checkpointer)->checkpoint_now();
  CHECK((*checkpointer)->done().on_thread >= 1);
  CHECK((*checkpointer)->done().failed == 0);
  CHECK(file_size(path) > before + 6'000'000); // the 6,000 rows are in the database file now
  // The database file alone, without its WAL, holds them.
  auto copy = dir.file("copy.db");
  std::filesystem::copy_file(path, copy);
  auto plain = sqlite::database::open(copy, false);
  REQUIRE(plain);
  CHECK(query(*plain, "SELECT count(*) FROM t WHERE v = printf('%01000d', k)") == 6000);
}

TEST_CASE("a commit wakes the checkpointer past its threshold, and past the bound the writer copies itself") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  auto writer = open_writer(path);
  {
    auto checkpointer = sqlite::wal_checkpointer::start(writer, path, "full", 50, 100'000);
    REQUIRE(checkpointer);
    commit_rows(writer, 1, 400);
    // Woken by the commit, not asked: wait for the thread (the test's clock is not involved).
    for (int spins = 0; (*checkpointer)->done().on_thread == 0 && spins < 10'000; ++spins)
      usleep(1000);
    CHECK((*checkpointer)->done().on_thread >= 1);
    CHECK((*checkpointer)->done().by_writer == 0);
  }
  {
    // A thread that is never woken (threshold above the bound): the writer keeps the WAL bounded.
    auto checkpointer = sqlite::wal_checkpointer::start(writer, path, "full", 100'000, 300);
    REQUIRE(checkpointer);
    auto size = file_size(path);
    for (int64_t i = 0; i < 15; ++i)
      commit_rows(writer, 1000 + i * 400 + 1, 1000 + i * 400 + 400);
    CHECK((*checkpointer)->done().by_writer >= 1);
    CHECK((*checkpointer)->done().on_thread == 0);
    CHECK(file_size(path) > size + 4'000'000);
    CHECK(file_size(path + "-wal") < 4'000'000); // not the 1,500 frames of all 15 commits
  }
  // Stopped: SQLite's automatic checkpoint is back on the writer.
  auto size = file_size(path);
  for (int64_t i = 0; i < 15; ++i)
    commit_rows(writer, 10'000 + i * 400 + 1, 10'000 + i * 400 + 400);
  CHECK(file_size(path) > size + 3'000'000);
  CHECK(query(writer, "SELECT count(*) FROM t") == 400 + 6000 + 6000);
}

TEST_CASE("kill -9 during commits and checkpoints keeps every commit that returned, whole") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  { open_writer(path); }
  std::unique_ptr<sqlite::wal_checkpointer> checkpointer;
  auto committed = fleet::test::commits_until_killed(path, 200, [&](sqlite::database& db) {
    // A checkpoint after every few commits, so that the kill lands in one often.
    auto started = sqlite::wal_checkpointer::start(db, path, "full", 20, 400);
    if (!started)
      return false;
    checkpointer = std::move(*started);
    return true;
  });
  fleet::test::check_whole_commits(path, committed);
}
