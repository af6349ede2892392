// Retention (fleet.retain-finished, fleet.retain-events) on the test clock.

#include "fleet_fixture.hpp"
#include "gunzip_lines.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>

using namespace fleet;
using namespace fleet::test;

namespace {

constexpr int64_t hour = 3'600'000;
constexpr int64_t day = 24 * hour;

std::string in_batch(const std::string& id) {
  return "batch_id = '" + id + "'";
}

} // namespace

TEST_CASE("retention deletes exactly the finished batches older than retain-finished, and says so") {
  fleet_fixture f;
  f.set_retention(day, 0, hour);
  f.start();
  auto old_batch = f.submit_ok({make_task("a", "echo"), make_task("b", "fail", R"({"times": 100})")});
  REQUIRE(f.advance_until([&] { return f.finished(old_batch); }, 60'000, 10));
  auto old_status = f.status_of(old_batch);
  f.advance(12 * hour);
  auto young = f.submit_ok({make_task("y", "echo")});
  auto later = make_task("u", "echo");
  later.delay_ms = 300 * day; // unfinished throughout, however old it gets
  auto unfinished = f.submit_ok({later});
  REQUIRE(f.advance_until([&] { return f.finished(young); }, 60'000, 10));
  auto batches_before = f.stats().total_batches;
  // A day after the old batch finished (and a pass every hour): it goes, the others stay.
  f.advance(13 * hour);
  CHECK(f.query_int("SELECT count(*) FROM batches WHERE id = '" + old_batch + "'") == 0);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE " + in_batch(old_batch)) == 0);
  CHECK(f.query_int("SELECT count(*) FROM attempts") == f.query_int("SELECT count(*) FROM attempts a JOIN tasks t"
                                                                    " ON t.seq = a.task_seq"));
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE " + in_batch(young)) == 1);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE " + in_batch(unfinished)) == 1);
  auto gone = f.ask<batch_status>(status_atom::value, old_batch);
  REQUIRE_FALSE(gone);
  CHECK(gone.error() == errc::unknown_batch);
  // One batch_pruned event with its counts; its earlier events stay (fleet.retain-events is off).
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'batch_pruned' AND " + in_batch(old_batch)
                    + " AND json_extract(detail, '$.tasks') = 2 AND json_extract(detail, '$.succeeded') = 1"
                      " AND json_extract(detail, '$.failed') = 1 AND json_extract(detail, '$.finished_at') = "
                    + std::to_string(old_status.finished_at))
        == 1);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'batch_submitted' AND " + in_batch(old_batch)) == 1);
  CHECK(f.stats().total_batches == batches_before - 1);
  CHECK(f.metrics().pruned_batches.value() == 1);
  CHECK(f.metrics().pruned_tasks.value() == 2);
  // The young one goes a day after it finished; the paused one never.
  f.advance(13 * hour);
  CHECK(f.query_int("SELECT count(*) FROM batches") == 1);
  CHECK(f.query_int("SELECT count(*) FROM batches WHERE id = '" + unfinished + "'") == 1);
  CHECK(f.query_int("SELECT tasks FROM fleet_totals") == 1);
}

TEST_CASE("a big batch is pruned in bounded steps, and a pass can be asked for at once") {
  fleet_fixture f;
  f.set_retention(hour, 0, day, 7); // passes only on request here
  f.start();
  std::vector<task> tasks;
  for (int i = 0; i < 50; ++i) {
    tasks.push_back(make_task("t" + std::to_string(i), "echo"));
    if (i % 3 == 0)
      tasks.back().policy.timeout_ms = 60'000 + i;
  }
  auto id = f.submit_ok(std::move(tasks));
  CHECK(f.query_int("SELECT count(*) FROM task_policies") == 17);
  auto kept = f.submit_ok({make_task("k", "echo")});
  REQUIRE(f.advance_until([&] { return f.finished(id) && f.finished(kept); }, 60'000, 10));
  auto nothing = f.ask<prune_report>(prune_atom::value);
  REQUIRE(nothing);
  CHECK(nothing->batches == 0);
  f.advance(hour + 1);
  auto report = f.ask<prune_report>(prune_atom::value);
  REQUIRE(report);
  CHECK(report->batches == 2);
  CHECK(report->tasks == 51);
  CHECK(f.query_int("SELECT count(*) FROM tasks") == 0);
  CHECK(f.query_int("SELECT count(*) FROM attempts") == 0);
  CHECK(f.query_int("SELECT count(*) FROM task_policies") == 0);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'batch_pruned'") == 2);
  CHECK(f.query_int("SELECT batches + tasks + succeeded FROM fleet_totals") == 0);
}

TEST_CASE("events older than retain-events go, only the pruner may delete them, and 0 keeps everything") {
  fleet_fixture f;
  f.set_retention(0, day, hour, 3);
  f.start();
  auto first = f.submit_ok({make_task("a", "fail", R"({"times": 1})")}); // a retry: several events
  REQUIRE(f.advance_until([&] { return f.finished(first); }, 60'000, 10));
  auto old_events = f.query_int("SELECT count(*) FROM events");
  REQUIRE(old_events >= 3);
  f.advance(day - 2 * hour);
  auto second = f.submit_ok({make_task("b", "echo")});
  REQUIRE(f.advance_until([&] { return f.finished(second); }, 60'000, 10));
  auto young_events = f.query_int("SELECT count(*) FROM events") - old_events;
  f.advance(3 * hour);
  CHECK(f.query_int("SELECT count(*) FROM events") == young_events);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE " + in_batch(first)) == 0);
  CHECK(f.query_int("SELECT count(*) FROM batches") == 2); // retain-finished is 0: batches stay
  CHECK(f.metrics().pruned_events.value() == static_cast<uint64_t>(old_events));
  // Anyone else's delete is refused, on a connection of fleetd's kind or not.
  auto db = sqlite::database::open(f.db_path(), false);
  REQUIRE(db);
  auto refused = db->exec("DELETE FROM events");
  REQUIRE(refused);
  CHECK(error_text(refused).find("fleet_pruning") != std::string::npos);
  CHECK(db->exec("UPDATE events SET kind = 'x'"));
  CHECK(f.query_int("SELECT count(*) FROM events") == young_events);
}

TEST_CASE("with retention off a pass removes nothing however old the work") {
  fleet_fixture f;
  f.set_retention(0, 0, hour);
  f.start();
  auto id = f.submit_ok({make_task("a", "echo")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 60'000, 10));
  f.advance(400 * day);
  auto report = f.ask<prune_report>(prune_atom::value);
  REQUIRE(report);
  CHECK(report->batches == 0);
  CHECK(report->events == 0);
  CHECK(f.query_int("SELECT count(*) FROM batches") == 1);
  CHECK(f.query_int("SELECT count(*) FROM events") >= 2);
}

TEST_CASE("with fleet.archive-dir each pruned batch is written whole to its archive before its rows go") {
  temp_dir archive;
  fleet_fixture f;
  f.set_retention(day, 0, hour, 2); // steps of two tasks: the batch goes in several
  f.set_archive_dir(archive.path().string());
  f.start();
  auto b = make_task("b", "fail", R"({"times": 100})");
  b.policy.max_retries = 1;
  auto id = f.submit_ok({make_task("a", "echo", R"({"n": 12345678901234567890})"), b,
                         make_task("c", "echo"), make_task("d", "echo"), make_task("e", "echo")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 60'000, 10));
  auto finished_at = f.status_of(id).finished_at;
  auto attempts = f.query_int("SELECT count(*) FROM attempts");
  auto events = f.query_int("SELECT count(*) FROM events WHERE " + in_batch(id));
  f.advance(day + hour);
  CHECK(f.query_int("SELECT count(*) FROM batches") == 0);
  auto file = archive.file(id + "-" + std::to_string(finished_at) + ".jsonl.gz");
  auto lines = gunzip_lines(file);
  REQUIRE(lines.size() == static_cast<size_t>(1 + 5 + 1 + attempts + events)); // b's policy is a line
  auto first = nlohmann::json::parse(lines[0]);
  CHECK(first["batch"]["id"] == id);
  CHECK(first["batch"]["total"] == 5);
  CHECK(first["batch"]["failed"] == 1);
  auto task_a = nlohmann::json::parse(lines[1]);
  CHECK(task_a["task"]["task_id"] == "a");
  CHECK(task_a["task"]["data"] == R"({"n": 12345678901234567890})"); // as stored, to the byte
  CHECK(nlohmann::json::parse(lines[5])["task"]["task_id"] == "e");
  auto policy = nlohmann::json::parse(lines[6]);
  CHECK(policy["task_policy"]["max_retries"] == 1);
  CHECK(policy["task_policy"]["timeout_ms"].is_null());
  CHECK(nlohmann::json::parse(lines[7]).contains("attempt"));
  CHECK(nlohmann::json::parse(lines.back()).contains("event"));
  CHECK(f.metrics().archived_batches.value() == 1);
  CHECK(f.query_text("SELECT json_extract(detail, '$.archive') FROM events WHERE kind = 'batch_pruned'")
        == id + "-" + std::to_string(finished_at) + ".jsonl.gz");
  CHECK_FALSE(std::filesystem::exists(file + ".tmp"));
}

TEST_CASE("a batch whose archive cannot be written is not pruned, and goes once it can be") {
  temp_dir archive;
  fleet_fixture f;
  f.set_retention(day, 0, hour);
  f.set_archive_dir(archive.path().string());
  f.start();
  auto id = f.submit_ok({make_task("a", "echo")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 60'000, 10));
  auto name = id + "-" + std::to_string(f.status_of(id).finished_at) + ".jsonl.gz";
  // A directory where the temporary file would go: creating it fails.
  std::filesystem::create_directory(archive.file(name + ".tmp"));
  f.advance(day + hour); // a pass on the hour fails too (logged)
  auto report = f.ask<prune_report>(prune_atom::value);
  REQUIRE_FALSE(report);
  CHECK(error_text(report.error()).find("cannot create") != std::string::npos);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE " + in_batch(id)) == 1);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'batch_pruned'") == 0);
  std::filesystem::remove(archive.file(name + ".tmp"));
  report = f.ask<prune_report>(prune_atom::value);
  REQUIRE(report);
  CHECK(report->batches == 1);
  CHECK(report->archived == 1);
  CHECK(gunzip_lines(archive.file(name)).size() >= 3);
  CHECK(f.query_int("SELECT count(*) FROM batches") == 0);
}
