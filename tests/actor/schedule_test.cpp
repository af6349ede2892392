#include "fleet_fixture.hpp"

#include "fleet/time_text.hpp"

#include <chrono>

using namespace fleet;
using namespace fleet::test;

namespace {

int64_t system_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

schedule_spec every(std::string name, int64_t every_ms, std::vector<task> tasks = {make_task("t", "echo")}) {
  schedule_spec spec;
  spec.name = std::move(name);
  spec.every_ms = every_ms;
  spec.tasks = std::move(tasks);
  return spec;
}

schedule_info add_ok(fleet_fixture& f, schedule_spec spec, bool replace = false) {
  auto info = f.ask<schedule_info>(schedule_add_atom::value, std::move(spec), replace);
  REQUIRE_MESSAGE(info, (info ? "" : error_text(info.error())));
  return *info;
}

std::vector<schedule_info> list(fleet_fixture& f) {
  auto xs = f.ask<std::vector<schedule_info>>(schedules_atom::value);
  REQUIRE(xs);
  return *xs;
}

schedule_info info(fleet_fixture& f, const std::string& name) {
  for (auto& x : list(f))
    if (x.spec.name == name)
      return x;
  FAIL("no schedule " << name);
  return {};
}

int64_t batches_of(fleet_fixture& f, const std::string& name) {
  return f.query_int("SELECT count(*) FROM batches WHERE client_key LIKE 'schedule:" + name + "@%'");
}

int64_t events_of(fleet_fixture& f, const std::string& kind, const std::string& name) {
  return f.query_int("SELECT count(*) FROM events WHERE kind = '" + kind + "' AND json_extract(detail, '$.schedule') = '"
                     + name + "'");
}

/// Moves time as a clock does, a little at a time (one big step would fire every timer at its end).
void step(fleet_fixture& f, int64_t ms) {
  for (int64_t t = 0; t < ms; t += 100)
    f.advance(std::min<int64_t>(100, ms - t));
}

/// Multiples of `every` in (from, to].
int64_t slots_between(int64_t from, int64_t to, int64_t every) {
  return to / every - from / every;
}

} // namespace

TEST_CASE("an interval schedule fires each slot once, under the slot's key, on time") {
  fleet_fixture f;
  f.start();
  auto added = add_ok(f, every("tick", 10'000, {make_task("a", "echo"), make_task("b", "echo")}));
  CHECK(added.source == "runtime");
  CHECK(added.next_run_at % 10'000 == 0);
  CHECK(added.next_run_at > added.created_at);
  CHECK(added.next_run_at <= added.created_at + 10'000);
  step(f, 35'000);
  f.run();
  auto now = added.created_at + 35'000;
  auto expected = slots_between(added.created_at, now, 10'000);
  CHECK(batches_of(f, "tick") == expected);
  CHECK(events_of(f, "schedule_fired", "tick") == expected);
  // Each batch was made at its slot (within the 100 ms steps of the test clock) and holds the template.
  CHECK(f.query_int("SELECT count(*) FROM batches WHERE client_key LIKE 'schedule:tick@%' AND total = 2"
                    " AND created_at % 10000 < 100") == expected);
  auto x = info(f, "tick");
  CHECK(x.fired == expected);
  CHECK(x.skipped == 0);
  CHECK(x.missed == 0);
  CHECK(x.last_slot % 10'000 == 0);
  CHECK(x.next_run_at == x.last_slot + 10'000);
  CHECK(format_rfc3339_ms(x.last_slot) == f.query_text("SELECT substr(client_key, 15) FROM batches WHERE id = '"
                                                       + x.last_batch_id + "'"));
  REQUIRE(f.advance_until([&] { return f.finished(x.last_batch_id); }, 5'000));
  CHECK(info(f, "tick").last_batch_state == "completed");
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'schedule_added'") == 1);
}

TEST_CASE("a cron schedule fires at its local time, across a DST gap once") {
  // Europe/Berlin jumps from 02:00 to 03:00 at 01:00 UTC on 2027-03-28: "30 2 * * *" has no 02:30
  // that day and runs at 03:00 local (01:00 UTC), once.
  fleet_fixture f;
  auto start = *parse_rfc3339_ms("2027-03-28T00:58:00Z");
  f.set_wall_offset(start - system_ms());
  f.start();
  schedule_spec spec;
  spec.name = "nightly";
  spec.cron = "30 2 * * *";
  spec.time_zone = "Europe/Berlin";
  spec.tasks = {make_task("report", "echo")};
  auto added = add_ok(f, spec);
  CHECK(added.next_run_at == *parse_rfc3339_ms("2027-03-28T01:00:00Z"));
  step(f, 90'000);
  CHECK(batches_of(f, "nightly") == 0); // not a moment early
  step(f, 60'000);
  CHECK(batches_of(f, "nightly") == 1);
  CHECK(f.query_text("SELECT client_key FROM batches") == "schedule:nightly@2027-03-28T01:00:00.000Z");
  CHECK(info(f, "nightly").next_run_at == *parse_rfc3339_ms("2027-03-29T00:30:00Z"));
}

TEST_CASE("slots missed while fleetd was down: skip runs none, once runs the latest once") {
  fleet_fixture f;
  f.set_wall_offset(*parse_rfc3339_ms("2026-12-02T10:00:05Z") - system_ms());
  f.start();
  auto skip = every("skipper", 600'000);
  auto once = every("catcher", 600'000);
  once.missed = "once";
  add_ok(f, skip);
  add_ok(f, once);
  step(f, 5'000);
  f.stop();
  // Back at 11:05: the slots 10:10 to 11:00 passed while fleetd was down; 11:00 is 5 minutes
  // old, beyond the minute of grace.
  f.set_wall_offset(*parse_rfc3339_ms("2026-12-02T11:05:00Z") - system_ms());
  f.start();
  f.run();
  CHECK(batches_of(f, "skipper") == 0);
  CHECK(batches_of(f, "catcher") == 1);
  CHECK(f.query_text("SELECT client_key FROM batches") == "schedule:catcher@2026-12-02T11:00:00.000Z");
  auto s = info(f, "skipper");
  auto c = info(f, "catcher");
  CHECK(s.missed == 6);
  CHECK(c.missed == 5);
  CHECK(c.fired == 1);
  CHECK(f.query_text("SELECT detail FROM events WHERE kind = 'schedule_missed' AND detail LIKE '%skipper%'")
        == R"({"first":"2026-12-02T10:10:00.000Z","last":"2026-12-02T11:00:00.000Z","schedule":"skipper","slots":6})");
  CHECK(events_of(f, "schedule_missed", "catcher") == 1);
  // From then on, each slot as usual.
  step(f, 300'000);
  CHECK(batches_of(f, "skipper") == 1);
  CHECK(batches_of(f, "catcher") == 2);
}

TEST_CASE("a restart with the clock behind the last firing fires no slot again") {
  fleet_fixture f;
  auto t0 = *parse_rfc3339_ms("2026-12-02T10:00:00.500Z");
  f.set_wall_offset(t0 - system_ms());
  f.start();
  add_ok(f, every("second", 1'000));
  step(f, 10'000);
  auto fired = batches_of(f, "second");
  CHECK(fired == 10);
  f.stop();
  // fleetd's clock reads 10 s earlier than before the restart.
  f.set_wall_offset(t0 - system_ms());
  f.start();
  step(f, 12'000);
  CHECK(f.query_int("SELECT count(DISTINCT client_key) FROM batches") == f.query_int("SELECT count(*) FROM batches"));
  CHECK(f.query_int("SELECT fired FROM schedules") == f.query_int("SELECT count(*) FROM batches"));
  // Slots resume only after the last one fired before (10:00:10): 10:00:11 and 10:00:12.
  CHECK(batches_of(f, "second") == fired + 2);
}

TEST_CASE("overlap = false skips a slot while the last firing's batch is unfinished") {
  fleet_fixture f;
  f.set_wall_offset(*parse_rfc3339_ms("2026-12-02T10:00:00.500Z") - system_ms());
  f.start();
  // Slots at :05 (runs to :13), :10 (skipped), :15 (runs to :23), :20 (skipped).
  auto spec = every("slow", 5'000, {make_task("s", "sleep", R"({"ms": 8000})")});
  spec.overlap = false;
  add_ok(f, spec);
  step(f, 11'000); // slot 1 fires, slot 2 comes while its batch runs
  CHECK(batches_of(f, "slow") == 1);
  auto x = info(f, "slow");
  CHECK(x.skipped == 1);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'schedule_skipped' AND json_extract(detail, '$.reason')"
                    " LIKE 'overlap = false, and batch % of the last firing is processing'") == 1);
  step(f, 10'000); // the batch finished: the next slot fires
  CHECK(batches_of(f, "slow") == 2);
  CHECK(info(f, "slow").skipped == 2);
}

TEST_CASE("pause, resume, run and remove a schedule") {
  fleet_fixture f;
  f.start();
  add_ok(f, every("job", 10'000));
  REQUIRE(f.ask<bool>(schedule_pause_atom::value, std::string{"job"}, true) == true);
  CHECK(f.ask<bool>(schedule_pause_atom::value, std::string{"job"}, true) == false);
  CHECK(info(f, "job").paused);
  CHECK(info(f, "job").next_run_at == 0);
  step(f, 30'000);
  CHECK(batches_of(f, "job") == 0);
  // Resumed: the slots that passed while paused are not run, later ones are.
  REQUIRE(f.ask<bool>(schedule_pause_atom::value, std::string{"job"}, false) == true);
  f.run();
  CHECK(batches_of(f, "job") == 0);
  step(f, 10'000);
  CHECK(batches_of(f, "job") == 1);
  // Run now: a batch outside the slots, under a run key.
  auto id = f.ask<std::string>(schedule_run_atom::value, std::string{"job"});
  REQUIRE(id);
  CHECK(f.query_text("SELECT client_key FROM batches WHERE id = '" + *id + "'").rfind("schedule:job@run:", 0) == 0);
  CHECK(info(f, "job").last_batch_id == *id);
  CHECK(info(f, "job").fired == 2);
  REQUIRE(f.ask<bool>(schedule_remove_atom::value, std::string{"job"}) == true);
  CHECK(list(f).empty());
  step(f, 30'000);
  CHECK(batches_of(f, "job") == 2); // its batches stay, no more come
  for (auto kind : {"schedule_added", "schedule_paused", "schedule_resumed", "schedule_removed"})
    CHECK_MESSAGE(events_of(f, kind, "job") == 1, kind);
  // Unknown names.
  auto unknown = std::string{"nope"};
  CHECK(f.ask<bool>(schedule_pause_atom::value, unknown, true).error() == errc::unknown_schedule);
  CHECK(f.ask<bool>(schedule_remove_atom::value, unknown).error() == errc::unknown_schedule);
  CHECK(f.ask<std::string>(schedule_run_atom::value, unknown).error() == errc::unknown_schedule);
}

TEST_CASE("bad schedules are refused with a clear error and nothing stored") {
  fleet_fixture f;
  f.start();
  add_ok(f, every("taken", 60'000));
  auto events_before = f.query_int("SELECT count(*) FROM events");
  struct bad_case {
    schedule_spec spec;
    errc code;
    const char* says;
  };
  auto cron = [](const char* expr, const char* tz = "") {
    schedule_spec s;
    s.name = "c";
    s.cron = expr;
    s.time_zone = tz;
    s.tasks = {make_task("t", "echo")};
    return s;
  };
  auto negative = every("neg", 60'000);
  negative.tasks[0].delay_ms = -5;
  auto at = every("at", 60'000);
  at.tasks[0].run_at = 1;
  for (const auto& [spec, code, says] : std::vector<bad_case>{
         {cron("61 * * * *"), errc::invalid_argument, "61 is out of range 0-59"},
         {cron("0 3 * * *", "Mars/Olympus"), errc::invalid_argument, "time zone \"Mars/Olympus\""},
         {every("taken", 30'000), errc::schedule_exists, "exists already"},
         {every("typo", 60'000, {make_task("t", "no-such-type")}), errc::unknown_task_type, "its template"},
         {every("dup", 60'000, {make_task("t", "echo"), make_task("t", "echo")}), errc::duplicate_task_id, "its template"},
         {negative, errc::invalid_task, "delay"},
         {at, errc::invalid_argument, "run_at"},
         {every("bad name", 60'000), errc::invalid_argument, "schedule name"},
         {every("fast", 10), errc::invalid_argument, "the shortest is 1s"},
       }) {
    auto got = f.ask<schedule_info>(schedule_add_atom::value, spec, false);
    REQUIRE_MESSAGE(!got, spec.name);
    CHECK_MESSAGE(got.error() == code, spec.name, ": ", error_text(got.error()));
    CHECK_MESSAGE(error_text(got.error()).find(says) != std::string::npos, spec.name, ": ", error_text(got.error()));
  }
  CHECK(f.query_int("SELECT count(*) FROM schedules") == 1);
  CHECK(f.query_int("SELECT every_ms FROM schedules") == 60'000); // "taken" unchanged
  CHECK(f.query_int("SELECT count(*) FROM events") == events_before);
}

TEST_CASE("replacing a schedule keeps its history and counts its slots from the change") {
  fleet_fixture f;
  f.start();
  add_ok(f, every("r", 10'000));
  step(f, 25'000);
  auto fired = info(f, "r").fired;
  CHECK(fired >= 2);
  auto replaced = add_ok(f, every("r", 60'000, {make_task("x", "echo"), make_task("y", "echo")}), true);
  CHECK(replaced.fired == fired);
  CHECK(replaced.spec.every_ms == 60'000);
  CHECK(replaced.spec.tasks.size() == 2);
  CHECK(replaced.next_run_at % 60'000 == 0);
  CHECK(f.query_text("SELECT json_extract(detail, '$.changes') FROM events WHERE kind = 'schedule_updated'")
        == "every 10s -> 1m, tasks");
  // The same definition again changes nothing and records nothing.
  add_ok(f, every("r", 60'000, {make_task("x", "echo"), make_task("y", "echo")}), true);
  CHECK(events_of(f, "schedule_updated", "r") == 1);
}

TEST_CASE("schedules of the config file are added at start, and updated when they differ") {
  fleet_fixture f;
  auto declared = every("from-config", 60'000);
  f.set_declared_schedules({declared});
  f.start();
  auto x = info(f, "from-config");
  CHECK(x.source == "config");
  CHECK(events_of(f, "schedule_added", "from-config") == 1);
  f.stop();
  // Unchanged: nothing recorded.
  f.start();
  CHECK(events_of(f, "schedule_updated", "from-config") == 0);
  f.stop();
  declared.every_ms = 120'000;
  f.set_declared_schedules({declared});
  f.start();
  CHECK(info(f, "from-config").spec.every_ms == 120'000);
  CHECK(events_of(f, "schedule_updated", "from-config") == 1);
}

TEST_CASE("a firing whose write fails stores nothing, and its slot fires once when writes work again") {
  fleet_fixture f;
  f.set_wall_offset(*parse_rfc3339_ms("2026-12-02T10:00:00.500Z") - system_ms());
  f.start();
  add_ok(f, every("fragile", 10'000)); // its slot 10:00:10 fails, and is retried until 10:00:13
  {
    auto db = sqlite::database::open(f.db_path());
    REQUIRE(db);
    REQUIRE_FALSE(db->exec("CREATE TRIGGER refuse_batches BEFORE INSERT ON batches"
                           " BEGIN SELECT RAISE(ABORT, 'simulated failure'); END"));
  }
  step(f, 10'500);
  CHECK(batches_of(f, "fragile") == 0);
  CHECK(f.query_int("SELECT fired + skipped + missed_slots FROM schedules") == 0);
  CHECK(events_of(f, "schedule_fired", "fragile") == 0);
  {
    auto db = sqlite::database::open(f.db_path());
    REQUIRE(db);
    REQUIRE_FALSE(db->exec("DROP TRIGGER refuse_batches"));
  }
  step(f, 2'000);
  CHECK(batches_of(f, "fragile") == 1);
  CHECK(events_of(f, "schedule_fired", "fragile") == 1);
  CHECK(f.query_int("SELECT fired FROM schedules") == 1);
}
