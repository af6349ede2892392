// The SQLite writer's several-ends-per-statement UPDATE of `tasks` (src/fleet/task_ends.hpp): its
// limits, and the SQL function it reads rows through, which nothing else may call.

#include "fleetd/error.hpp"
#include "fleet/migrations.hpp"
#include "fleet/task_ends.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace fleet;
using fleet::test::temp_dir;

namespace {

struct migrated_file {
  temp_dir dir;
  sqlite::database db = open(dir.file("fleet.db"));
  static sqlite::database open(const std::string& path) {
    auto db = sqlite::database::open(path);
    REQUIRE(db);
    REQUIRE_FALSE(migrate(*db));
    REQUIRE_FALSE(db->exec("INSERT INTO batches (id, created_at, total) VALUES ('b1', 1, 40);"
                           "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)"
                           " INSERT INTO tasks (batch_id, task_id, type, data)"
                           " SELECT 'b1', 't' || i, 'echo', '{}' FROM n"));
    return std::move(*db);
  }
  std::string text(const std::string& sql) {
    auto st = db.prepare(sql);
    REQUIRE(st);
    auto row = st->step();
    REQUIRE(row);
    REQUIRE(*row);
    return st->column_text(0);
  }
};

attempt_ended succeeded(int64_t seq, int64_t at) {
  attempt_ended end;
  end.seq = seq;
  end.batch_id = "b1";
  end.task_id = "t" + std::to_string(seq);
  end.attempt = 1;
  end.at = at;
  end.duration_ms = 7;
  end.outcome = attempt_outcome::succeeded;
  end.result = "{\"seq\":" + std::to_string(seq) + "}";
  end.next = task_disposition::succeeded;
  return end;
}

} // namespace

TEST_CASE("a write takes 1 to 32 ends, each row's own values, and leaves the other tasks alone") {
  migrated_file f;
  auto writer = task_end_writer::make(f.db);
  REQUIRE(writer);
  std::vector<attempt_ended> ends;
  std::vector<attempt_started> starts;
  for (int64_t seq = 1; seq <= 33; ++seq) {
    ends.push_back(succeeded(seq, 5000 + seq));
    starts.push_back(attempt_started{seq, "b1", "t" + std::to_string(seq), 1, "w", 4000 + seq, {}});
  }
  std::vector<task_end_writer::row> rows;
  for (size_t i = 0; i < ends.size(); ++i)
    rows.push_back({&ends[i], i % 2 == 0 ? &starts[i] : nullptr});
  auto none = (*writer)->write({rows.data(), 0});
  REQUIRE(none);
  CHECK(none.code() == static_cast<uint8_t>(errc::invalid_argument));
  CHECK((*writer)->write(rows)); // 33
  CHECK(f.text("SELECT count(*) FROM tasks WHERE state = 'pending'") == "40");
  REQUIRE_FALSE((*writer)->write({rows.data(), 32}));
  CHECK(f.text("SELECT count(*) FROM tasks WHERE state = 'succeeded'") == "32");
  CHECK(f.text("SELECT count(*) FROM tasks WHERE state = 'succeeded' AND result = '{\"seq\":' || seq || '}'"
               " AND finished_at = 5000 + seq AND duration_ms = 7 AND attempts = 1 AND error IS NULL") == "32");
  // started_at from the start when it came in the same group; else as it was (the start wrote it).
  CHECK(f.text("SELECT count(*) FROM tasks WHERE started_at = 4000 + seq AND seq % 2 = 1") == "16");
  CHECK(f.text("SELECT count(*) FROM tasks WHERE started_at IS NULL AND seq <= 32") == "16");
  CHECK(f.text("SELECT group_concat(state) FROM tasks WHERE seq > 32") == "pending,pending,pending,pending,pending,"
                                                                         "pending,pending,pending");
}

TEST_CASE("fleet_task_end answers only the writer's own UPDATE: not a query, not a trigger, not after the writer") {
  migrated_file f;
  auto writer = task_end_writer::make(f.db);
  REQUIRE(writer);
  // Outside a write there are no rows to answer from.
  auto direct = f.db.prepare("SELECT fleet_task_end(1, 0)");
  REQUIRE(direct);
  auto row = direct->step();
  REQUIRE_FALSE(row);
  CHECK(error_text(row.error()).find("no attempt end is being written") != std::string::npos);
  direct = f.db.prepare("SELECT 1"); // finalizes the statement above
  // A trigger in the file (anyone who can write the file can add one) cannot call it.
  REQUIRE_FALSE(f.db.exec("CREATE TRIGGER steal AFTER UPDATE ON tasks BEGIN"
                          " INSERT INTO events (at, kind, detail) VALUES (0, 'x', fleet_task_end(new.seq, 1)); END"));
  auto end = succeeded(1, 5001);
  task_end_writer::row one{&end, nullptr};
  auto refused = (*writer)->write({&one, 1});
  REQUIRE(refused);
  CHECK(error_text(refused).find("unsafe use of fleet_task_end") != std::string::npos);
  CHECK(f.text("SELECT state FROM tasks WHERE seq = 1") == "pending");
  REQUIRE_FALSE(f.db.exec("DROP TRIGGER steal"));
  REQUIRE_FALSE((*writer)->write({&one, 1}));
  CHECK(f.text("SELECT state FROM tasks WHERE seq = 1") == "succeeded");
  writer->reset();
  CHECK(f.db.prepare("SELECT fleet_task_end(1, 0)").error());
}
