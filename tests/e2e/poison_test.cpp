// Poison tasks and hostile program output (issue 16): a task that takes fleetd down must not take it
// down forever, and output that is not UTF-8 must not take it down at all.

#include "fleetd_process.hpp"

#include <fmt/format.h>

using namespace fleet;
using namespace fleet::test;

namespace {

/// Submits `tasks` (JSON Lines) while the fleet is paused, so that the answer leaves before a
/// poison task can start, then resumes (its answer may be lost with the process). The batch id.
std::string submit_paused(fleetd_process& d, const std::string& tasks) {
  auto file = d.file("tasks.jsonl");
  write_file(file, tasks);
  auto paused = d.ctl({"pause", "--fleet"});
  REQUIRE_MESSAGE(paused.exit_code == 0, paused.err);
  auto batch = d.submit(file);
  d.ctl({"resume", "--fleet"});
  return batch;
}

bool finished(fleetd_process& d, const std::string& batch) {
  auto r = d.ctl({"--json", "status", batch});
  return r.exit_code == 0 && nlohmann::json::parse(r.out)["finished_at"].is_number();
}

/// Restarts fleetd each time the poison task kills it, until the batch finishes. How many times
/// fleetd died.
int deaths_until_finished(fleetd_process& d, const std::string& batch) {
  int deaths = 0;
  for (;;) {
    REQUIRE(eventually([&] { return !d.alive() || finished(d, batch); }, 120));
    if (d.alive())
      return deaths;
    d.wait_exit();
    ++deaths;
    REQUIRE_MESSAGE(deaths <= 3, "fleetd kept dying: the poison task was not given up\n" << d.log());
    (void)d.start(); // it may die again before it is seen listening: the loop's next wait sees it
  }
}

void check_poison_given_up(fleetd_process& d, const std::string& batch) {
  auto st = d.ctl_json({"status", batch});
  CHECK(st["status"] == "partial");
  CHECK(st["completed"] == 20);
  CHECK(st["failed"] == 1);
  auto results = d.ctl_json({"results", batch});
  for (const auto& r : results) {
    if (r["task_id"] != "poison") {
      CHECK(r["success"] == true);
      continue;
    }
    CHECK(r["success"] == false);
    CHECK(r["attempts"] == 3);
    auto error = r["error"].get<std::string>();
    CHECK_MESSAGE(error.find("given up after 3 lost attempts (fleet.max-interruptions)") == 0, error);
  }
  // A dead letter, like any task that failed for good, and it can be replayed.
  auto failed = d.ctl_json({"failed", batch});
  REQUIRE(failed.size() == 1);
  CHECK(failed[0]["task_id"] == "poison");
  auto seq = "(SELECT seq FROM tasks WHERE task_id = 'poison')";
  CHECK(d.query_int(fmt::format("SELECT orphaned_attempts FROM tasks WHERE seq = {}", seq)) == 3);
  CHECK(d.query_int(fmt::format("SELECT count(*) FROM attempts WHERE task_seq = {} AND outcome = 'interrupted'", seq))
        == 3);
  CHECK(d.query_int("SELECT count(*) FROM attempts WHERE finished_at IS NULL") == 0);
  CHECK(d.query_int("SELECT count(*) FROM events WHERE kind = 'task_failed' AND task_id = 'poison'") == 1);
  CHECK(integrity_check(d.db()) == "ok");
}

std::string poison_batch(const std::string& poison_data) {
  std::string tasks = fmt::format(R"({{"id":"poison","type":"crash","data":{},"priority":9}})", poison_data) + "\n";
  for (int i = 0; i < 20; ++i)
    tasks += fmt::format(R"({{"id":"e{}","type":"echo","data":{{"i":{}}}}})", i, i) + "\n";
  return tasks;
}

} // namespace

TEST_CASE("a task that kills fleetd before its start is recorded fails for good after fleet.max-interruptions") {
  fleetd_process d("max-workers=2\n");
  d.use_binary("fleetd-crashtest");
  REQUIRE_MESSAGE(d.start(), d.log());
  auto batch = submit_paused(d, poison_batch("{}"));
  CHECK(deaths_until_finished(d, batch) == 3);
  check_poison_given_up(d, batch);
  CHECK(d.count_in_log("their start was not yet recorded") >= 1);
  CHECK(d.terminate() == 0);
}

TEST_CASE("a task that kills fleetd while its recorded attempt runs fails for good after fleet.max-interruptions") {
  fleetd_process d("max-workers=2\n");
  d.use_binary("fleetd-crashtest");
  REQUIRE_MESSAGE(d.start(), d.log());
  auto batch = submit_paused(d, poison_batch(R"({"after_ms": 400})"));
  CHECK(deaths_until_finished(d, batch) == 3);
  check_poison_given_up(d, batch);
  CHECK(d.count_in_log("attempts were interrupted by the last shutdown") >= 1);
  CHECK(d.terminate() == 0);
}

TEST_CASE("program output that is not UTF-8, or cut inside a character, is stored replaced and said so") {
  fleetd_process d("max-workers=4\nmax-retries=0\n");
  REQUIRE_MESSAGE(d.start(), d.log());
  auto file = d.file("output.jsonl");
  auto e_acute = [](int n) {
    std::string s;
    for (int i = 0; i < n; ++i)
      s += "\xc3\xa9";
    return s;
  };
  // One write of 5001 bytes: the 4 KiB tail begins in the middle of a character.
  nlohmann::json long_output{{"id", "long"}, {"type", "exec"},
                             {"data", {{"argv", {"sh", "-c", "printf '%s\\n' \"$1\"", "sh", e_acute(2500)}}}}};
  // The stderr tail of the error text begins in the middle of a character.
  nlohmann::json long_error{{"id", "err"}, {"type", "exec"}, {"data", {{"argv", {"uname", "--" + e_acute(300)}}}}};
  write_file(file, R"({"id":"ff","type":"exec","data":{"argv":["sh","-c","printf 'a\\377b'"]}})" "\n"
                     + long_output.dump() + "\n" + long_error.dump() + "\n");
  auto batch = d.submit(file);
  REQUIRE(eventually([&] { return finished(d, batch); }));
  CHECK(d.alive());
  for (const auto& r : d.ctl_json({"results", batch})) {
    if (r["task_id"] == "ff") {
      REQUIRE(r["success"] == true);
      CHECK(r["result"]["stdout"] == "a\xef\xbf\xbd" "b");
      CHECK(r["result"]["stdout_invalid_utf8"] == true);
      CHECK_FALSE(r["result"].contains("stdout_truncated"));
    } else if (r["task_id"] == "long") {
      REQUIRE(r["success"] == true);
      auto out = r["result"]["stdout"].get<std::string>();
      CHECK(out == e_acute(2047) + "\n"); // the character cut in half went whole

      CHECK(r["result"]["stdout_truncated"] == true);
      CHECK_FALSE(r["result"].contains("stdout_invalid_utf8"));
    } else {
      CHECK(r["success"] == false);
      CHECK(r["error"].get<std::string>().find("uname exited with code 1: ") == 0);
    }
  }
  CHECK(d.terminate() == 0);
}

TEST_CASE("exec env may not set variables that change what runs, unless fleet.exec-env-allow lists them") {
  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  auto file = d.file("env.jsonl");
  for (const char* name : {"LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "GCONV_PATH", "PATH", "BASH_ENV",
                           "GLIBC_TUNABLES", "PYTHONPATH"}) {
    write_file(file, fmt::format(R"({{"type":"exec","data":{{"argv":["uname"],"env":{{"{}":"/tmp/x"}}}}}})", name));
    auto r = d.ctl({"submit", file});
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find(fmt::format("a task may not set {} in \"env\"", name)) != std::string::npos, r.err);
  }
  CHECK(d.query_int("SELECT count(*) FROM tasks") == 0);
  write_file(file, R"({"type":"exec","data":{"argv":["uname"],"env":{"FLEET_GREETING":"hi"}}})");
  CHECK(d.ctl({"submit", file}).exit_code == 0);
  CHECK(d.terminate() == 0);

  REQUIRE_MESSAGE(d.start({"--fleet.exec-env-allow=LD_LIBRARY_PATH"}), d.log());
  write_file(file, R"({"type":"exec","data":{"argv":["uname"],"env":{"LD_LIBRARY_PATH":"/usr/lib"}}})");
  auto allowed = d.ctl({"submit", "--wait", file});
  CHECK_MESSAGE(allowed.exit_code == 0, allowed.err);
  CHECK(d.terminate() == 0);
}

TEST_CASE("a program that can never start fails at once, without retries") {
  fleetd_process d("max-retries=3\n");
  REQUIRE_MESSAGE(d.start({"--fleet.exec-allow=/nonexistent/program,sh"}), d.log());
  auto file = d.file("missing.jsonl");
  std::string huge(200'000, 'x');
  write_file(file, R"({"id":"missing","type":"exec","data":{"argv":["/nonexistent/program"]}})" "\n"
                   R"({"id":"e2big","type":"exec","data":{"argv":["sh",")" + huge + "\"]}}\n");
  auto batch = d.submit(file);
  REQUIRE(eventually([&] { return finished(d, batch); }));
  for (const auto& r : d.ctl_json({"results", batch})) {
    CHECK(r["success"] == false);
    CHECK(r["attempts"] == 1);
    auto error = r["error"].get<std::string>();
    if (r["task_id"] == "missing")
      CHECK_MESSAGE(error == "exec: cannot start /nonexistent/program: No such file or directory", error);
    else
      CHECK_MESSAGE(error == "exec: cannot start sh: Argument list too long", error);
  }
  CHECK(d.terminate() == 0);
}
