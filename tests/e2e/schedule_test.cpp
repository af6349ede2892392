// Recurring schedules end to end (issue 20): fleetctl schedule, [schedule.NAME] in the config file,
// and slots that fire at most once across kill -9.

#include "fleetd_process.hpp"

#include "fleet/time_text.hpp"

#include <random>
#include <thread>

using namespace fleet::test;
using json = nlohmann::json;

namespace {

int64_t schedule_batches(fleetd_process& d, const std::string& name) {
  return d.query_int("SELECT count(*) FROM batches WHERE client_key LIKE 'schedule:" + name + "@%'");
}

json schedule_of(fleetd_process& d, const std::string& name) {
  for (auto& x : d.ctl_json({"schedule", "list"}))
    if (x["name"] == name)
      return x;
  return json{};
}

} // namespace

TEST_CASE("fleetctl schedule add, list, run, pause, resume and rm") {
  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  auto file = d.file("template.json");
  write_file(file, R"([{"id": "ping", "type": "echo", "data": {"n": 1}}, {"id": "later", "type": "echo", "delay_ms": 50}])");
  auto r = d.ctl({"schedule", "add", "pinger", "--every", "1s", file});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK_MESSAGE(r.out.find("schedule pinger (every 1s, 2 tasks): next") != std::string::npos, r.out);
  CHECK(eventually([&] { return schedule_batches(d, "pinger") >= 2; }, 30));
  auto x = d.ctl_json({"schedule", "show", "pinger"});
  CHECK(x["every_ms"] == 1000);
  CHECK(schedule_of(d, "pinger")["template_tasks"] == 2);
  CHECK_FALSE(schedule_of(d, "pinger").contains("tasks")); // a list leaves templates out
  CHECK(x["source"] == "runtime");
  CHECK(x["tasks"].size() == 2);
  CHECK(x["tasks"][0]["data"] == json{{"n", 1}});
  CHECK(x["fired"].get<int64_t>() >= 2);
  CHECK(x["next_run_at"].get<int64_t>() % 1000 == 0);
  // The batch a slot made is found by its key.
  auto last = x["last_batch_id"].get<std::string>();
  auto key = d.ctl_json({"status", last});
  CHECK(key["total"] == 2);
  CHECK(key["key"] == "schedule:pinger@" + fleet::format_rfc3339_ms(x["last_slot"].get<int64_t>()));
  auto shown = d.ctl({"schedule", "show", "pinger"});
  CHECK_MESSAGE(shown.out.find("ping echo {\"n\": 1}") != std::string::npos, shown.out);
  CHECK_MESSAGE(shown.out.find("later echo {} +50ms") != std::string::npos, shown.out);
  auto table = d.ctl({"schedule", "list"});
  CHECK(table.out.find("pinger") != std::string::npos);
  CHECK(table.out.find("every 1s") != std::string::npos);

  r = d.ctl({"schedule", "pause", "pinger"});
  CHECK(r.out == "schedule pinger paused\n");
  auto paused_count = schedule_batches(d, "pinger");
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  CHECK(schedule_batches(d, "pinger") <= paused_count + 1); // one firing may have been on its way
  CHECK(schedule_of(d, "pinger")["next_run_at"].is_null());
  r = d.ctl({"schedule", "run", "pinger"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto run_batch = r.out.substr(0, r.out.find('\n'));
  CHECK(d.ctl({"wait", run_batch}).exit_code == 0);
  CHECK(d.ctl({"schedule", "resume", "pinger"}).out == "schedule pinger resumed\n");
  CHECK(d.ctl({"schedule", "resume", "pinger"}).out == "schedule pinger was already resumed\n");
  CHECK(d.ctl({"schedule", "rm", "pinger"}).out == "schedule pinger removed\n");
  CHECK(d.ctl_json({"schedule", "list"}).empty());
  CHECK(d.query_int("SELECT count(*) FROM events WHERE kind LIKE 'schedule_%' AND json_extract(detail, '$.schedule') = 'pinger'")
        >= 6);

  // Bad input: one line on stderr, exit 2, nothing stored.
  // Events other than pinger's: a firing that was on its way before the rm may still log its
  // schedule event and its batch's events while the bad input is tried.
  const std::string others = "SELECT count(*) FROM events WHERE coalesce(CASE WHEN json_valid(detail) THEN json_extract(detail, '$.schedule') END, '') != 'pinger'"
                             " AND (batch_id IS NULL OR batch_id NOT IN"
                             " (SELECT id FROM batches WHERE client_key LIKE 'schedule:pinger%'))";
  auto events = d.query_int(others);
  for (const auto& [args, expected] : std::vector<std::pair<std::vector<std::string>, std::string>>{
         {{"schedule", "add", "x", "--cron", "61 * * * *", file}, "minute field: 61 is out of range 0-59"},
         {{"schedule", "add", "x", "--cron", "0 3 * * *", "--tz", "Mars/Base", file}, "time zone \"Mars/Base\""},
         {{"schedule", "add", "x", "--cron", "* * * * *", "--every", "1m", file}, "--cron EXPR or --every DURATION"},
         {{"schedule", "add", "x", file}, "--cron EXPR or --every DURATION"},
         {{"schedule", "add", "x", "--every", "soon", file}, "--every needs a duration"},
         {{"schedule", "add", "x", "--every", "1m", "--missed", "all", file}, "--missed is skip or once"},
         {{"schedule", "add", "x", "--every", "1m", d.file("none.json")}, "cannot read"},
         {{"schedule", "add", "bad name", "--every", "1m", file}, "schedule name"},
         {{"status", "--every", "1m", "x"}, "belong to schedule add"},
         {{"schedule", "pause", "nope"}, "no schedule is named \"nope\""},
         {{"schedule", "frobnicate", "x"}, "unknown schedule command"}}) {
    CAPTURE(expected);
    r = d.ctl(args);
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find(expected) != std::string::npos, r.err);
  }
  REQUIRE(d.ctl({"schedule", "add", "taken", "--every", "1h", file}).exit_code == 0);
  r = d.ctl({"schedule", "add", "taken", "--every", "2h", file});
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(r.err.find("exists already") != std::string::npos, r.err);
  CHECK(d.query_int("SELECT count(*) FROM schedules") == 1);
  CHECK(d.query_int("SELECT every_ms FROM schedules") == 3'600'000);
  CHECK(d.query_int(others) == events + 1); // the one add
  r = d.ctl({"schedule", "add", "taken", "--every", "2h", "--replace", file});
  CHECK(r.exit_code == 0);
  CHECK(d.query_int("SELECT every_ms FROM schedules") == 7'200'000);
}

TEST_CASE("schedules of the config file are added at start, updated when changed, and bad ones stop the start") {
  temp_dir dir;
  auto tasks = dir.file("nightly.jsonl");
  write_file(tasks, "{\"id\":\"report\",\"type\":\"echo\"}\n");
  auto section = [&](const std::string& cron) {
    return "\n[schedule.nightly]\ncron=\"" + cron + "\"\ntz=\"Europe/Berlin\"\ntasks-file=\"" + tasks
           + "\"\nmissed=\"once\"\noverlap=false\n[schedule.beat]\nevery=\"1s\"\ntasks=\"[{\\\"type\\\":\\\"echo\\\"}]\"\n";
  };
  fleetd_process d{section("0 3 * * *")};
  REQUIRE_MESSAGE(d.start(), d.log());
  auto nightly = schedule_of(d, "nightly");
  CHECK(nightly["source"] == "config");
  CHECK(nightly["cron"] == "0 3 * * *");
  CHECK(nightly["tz"] == "Europe/Berlin");
  CHECK(nightly["missed"] == "once");
  CHECK(nightly["overlap"] == false);
  CHECK(eventually([&] { return schedule_batches(d, "beat") >= 1; }, 30));
  CHECK(d.count_in_log("schedule nightly: added from the config file") == 1);
  REQUIRE(d.terminate() == 0);
  // Changed in the file: updated at the next start, and the log says what changed.
  write_file(d.config_file(), read_file(d.config_file()).replace(read_file(d.config_file()).find("0 3 * * *"), 9,
                                                                  "30 4 * * 1"));
  REQUIRE_MESSAGE(d.start(), d.log());
  CHECK(schedule_of(d, "nightly")["cron"] == "30 4 * * 1");
  CHECK(d.count_in_log("schedule nightly: updated from the config file, which differs from the stored one: cron "
                       "\"0 3 * * *\" -> \"30 4 * * 1\"") == 1);
  REQUIRE(d.terminate() == 0);
  // A bad schedule: fleetd does not start, and says which.
  write_file(d.config_file(), read_file(d.config_file()).replace(read_file(d.config_file()).find("30 4 * * 1"), 10,
                                                                  "30 25 * * 1"));
  CHECK_FALSE(d.start());
  CHECK_MESSAGE(d.log().find("[schedule.nightly] in the config file: schedule \"nightly\": cron expression \"30 25 * * 1\": "
                             "hour field: 25 is out of range 0-23")
                  != std::string::npos,
                d.log());
  CHECK(query_db_text(d.db(), "SELECT cron FROM schedules WHERE name = 'nightly'") == "30 4 * * 1");
  for (const auto& [text, expected] : std::vector<std::pair<std::string, std::string>>{
         {"\n[schedule.x]\nevery=\"1m\"\n", "schedule.x needs its tasks"},
         {"\n[schedule.x]\nevery=\"1m\"\ntasks-file=\"/nonexistent.json\"\n", "cannot read /nonexistent.json"},
         {"\n[schedule.x]\nevery=\"1m\"\ntasks=\"[{}]\"\n", "schedule.x"},
         {"\n[schedule.x]\nevery=\"1m\"\ntasks=\"[{\\\"type\\\":\\\"echo\\\"}]\"\ncolour=\"red\"\n", "unknown key schedule.x.colour"},
         {"\n[schedule.x]\nevery=\"often\"\ntasks=\"[{\\\"type\\\":\\\"echo\\\"}]\"\n", "schedule.x.every must be a duration"},
       }) {
    fleetd_process bad{text};
    CHECK_FALSE(bad.start());
    CHECK_MESSAGE(bad.log().find(expected) != std::string::npos, bad.log());
  }
}

TEST_CASE("kill -9 at random moments: every slot fires at most once, and each firing is whole") {
  fleetd_process d;
  auto file = d.file("template.json");
  write_file(file, R"([{"type": "echo"}, {"type": "sleep", "data": {"ms": 300}}])");
  REQUIRE_MESSAGE(d.start(), d.log());
  REQUIRE(d.ctl({"schedule", "add", "every-second", "--every", "1s", "--missed", "once", file}).exit_code == 0);
  REQUIRE(d.ctl({"schedule", "add", "every-two", "--every", "2s", file}).exit_code == 0);
  std::mt19937 rng{20261202};
  for (int cycle = 0; cycle < 6; ++cycle) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>{300, 2200}(rng)));
    d.kill_hard();
    REQUIRE_MESSAGE(d.start(), d.log());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  REQUIRE(d.terminate() == 0);
  CHECK(integrity_check(d.db()) == "ok");
  auto fired = d.query_int("SELECT count(*) FROM batches WHERE client_key LIKE 'schedule:%'");
  CHECK(fired >= 6);
  // One batch per slot key (the unique index), one fired event per batch with its batch id, and the
  // schedules' counters agree: a firing is all of these or none.
  CHECK(d.query_int("SELECT count(*) FROM events WHERE kind = 'schedule_fired'") == fired);
  CHECK(d.query_int("SELECT count(*) FROM batches b JOIN events e ON e.batch_id = b.id AND e.kind = 'schedule_fired'"
                    " WHERE b.client_key = json_extract(e.detail, '$.key')") == fired);
  CHECK(d.query_int("SELECT sum(fired) FROM schedules") == fired);
  // Every slot is a multiple of its interval, and no slot is handled past what the schedule says.
  CHECK(d.query_int("SELECT count(*) FROM schedules WHERE last_slot > handled_until") == 0);
  CHECK(d.query_int("SELECT count(*) FROM batches b JOIN tasks t ON t.batch_id = b.id"
                    " WHERE b.client_key LIKE 'schedule:%'") == 2 * fired);
}
