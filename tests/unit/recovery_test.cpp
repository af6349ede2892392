// The start-up recovery (issue 16): attempts a dead process left open, the start journal's
// attempts whose start never reached the database, and poison tasks given up after
// fleet.max-interruptions lost attempts. Also the start journal itself, and the integrity check.

#include "fleetd/error.hpp"
#include "fleet/manager/start_up.hpp"
#include "fleet/write_pipeline.hpp"
#include "fleet/start_journal.hpp"
#include "fleet/store.hpp"
#include "query_db.hpp"
#include "store_fixture.hpp"

#include <doctest/doctest.h>

#include <fstream>

using namespace fleet;
using namespace fleet::test;

TEST_CASE("the start journal hands the next run what the last one did not clear, and survives a reopen") {
  temp_dir dir;
  auto path = dir.file("fleet.db-starts");
  {
    auto j = start_journal::open(path, 8);
    REQUIRE(j);
    CHECK((*j)->previous_run().empty());
    for (int64_t seq = 1; seq <= 5; ++seq)
      (*j)->note(seq, 1, 100 * seq);
    auto slot = (*j)->note(6, 2, 600);
    (*j)->clear(slot, 6);
    (*j)->clear(0, 99); // a slot another start has taken since: left alone
  }
  {
    auto j = start_journal::open(path, 8);
    REQUIRE(j);
    const auto& previous = (*j)->previous_run();
    REQUIRE(previous.size() == 5);
    CHECK(previous.front().seq == 1);
    CHECK(previous.back().seq == 5);
    CHECK(previous.back().started_at == 500);
    // The ring wraps: only the newest entries of this run survive, oldest first.
    for (int64_t seq = 10; seq < 20; ++seq)
      (*j)->note(seq, 1, seq);
  }
  {
    auto j = start_journal::open(path, 8);
    REQUIRE(j);
    const auto& previous = (*j)->previous_run();
    REQUIRE(previous.size() == 8);
    CHECK(previous.front().seq == 12);
    CHECK(previous.back().seq == 19);
  }
  // A file that is not a journal (a power cut, another program's file) starts over.
  { std::ofstream{path, std::ios::binary | std::ios::trunc} << "garbage"; }
  auto j = start_journal::open(path, 8);
  REQUIRE(j);
  CHECK((*j)->previous_run().empty());
}

TEST_CASE("a damaged database is refused at open, before anything is written into it") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  {
    auto s = fleet_store::open({path, "normal"});
    REQUIRE(s);
    std::vector<task> tasks;
    for (int i = 0; i < 3000; ++i)
      tasks.push_back({"t" + std::to_string(i), "echo", R"({"payload": "some bytes to fill pages"})", 0});
    auto tx = (*s)->transaction();
    REQUIRE_FALSE(tx.begin());
    REQUIRE_FALSE((*s)->insert_batch("b1", tasks, 1000));
    REQUIRE_FALSE(tx.commit());
  }
  // Overwrite the header of the index tasks_runnable's root page.
  auto root = query_db_int(path, "SELECT rootpage FROM sqlite_schema WHERE name = 'tasks_runnable'");
  auto page_size = query_db_int(path, "PRAGMA page_size");
  {
    std::fstream file{path, std::ios::in | std::ios::out | std::ios::binary};
    file.seekp((root - 1) * page_size);
    std::string garbage(64, '\xff');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  auto size_before = std::filesystem::file_size(path);
  auto damaged = fleet_store::open({path, "normal"});
  REQUIRE_FALSE(damaged);
  CHECK(damaged.error() == errc::database_damaged);
  auto text = error_text(damaged.error());
  CHECK_MESSAGE(text.find("is damaged (PRAGMA quick_check: ") != std::string::npos, text);
  CHECK(text.find(".recover") != std::string::npos);
  CHECK(std::filesystem::file_size(path) == size_before);
  // Opened without the check (damage that appears later), the first read of it says what it is.
  auto unchecked = fleet_store::open({path, "normal", 0, false});
  REQUIRE(unchecked);
  auto runnable = (*unchecked)->next_runnable(fleet::default_queue, 10);
  REQUIRE_FALSE(runnable);
  CHECK(runnable.error() == errc::database_damaged);
  CHECK(error_text(runnable.error()).find("the database file is damaged (") == 0);
}

