#include "fleetd_process.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>
#include <sstream>

using namespace fleet::test;

TEST_CASE("fleetctl submits a task file, waits, and reads status, results, stats and workers") {
  fleetd_process d{"max-workers=3\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  auto tasks = d.file("tasks.jsonl");
  write_file(tasks, R"({"id": "hello", "type": "echo", "data": {"greeting": "hi"}, "priority": 2}
{"type": "sleep", "data": {"ms": 50}}
{"id": "flaky", "type": "fail", "data": {"times": 1, "error": "glitch"}}
{"id": "doomed", "type": "fail", "data": {"error": "always"}}
{"id": "uname", "type": "exec", "data": {"argv": ["uname", "-s"]}}
)");
  auto submitted = d.ctl({"--json", "submit", "--wait", tasks});
  CHECK(submitted.exit_code == 1); // "doomed" fails: the batch ends partial
  auto lines = submitted.out;
  auto first = nlohmann::json::parse(lines.substr(0, lines.find('\n')));
  auto id = first.at("batch_id").get<std::string>();
  auto last_line = lines.substr(lines.rfind('\n', lines.size() - 2) + 1);
  CHECK(nlohmann::json::parse(last_line).at("status") == "partial");

  auto status = d.ctl_json({"status", id});
  CHECK(status["status"] == "partial");
  CHECK(status["total"] == 5);
  CHECK(status["completed"] == 4);
  CHECK(status["failed"] == 1);
  CHECK(status["progress"] == 1.0);

  auto results = d.ctl_json({"results", id});
  REQUIRE(results.size() == 5);
  std::set<std::string> ids;
  for (auto& r : results)
    ids.insert(r["task_id"].get<std::string>());
  CHECK(ids == std::set<std::string>{"hello", "task-2", "flaky", "doomed", "uname"});
  for (auto& r : results) {
    if (r["task_id"] == "hello")
      CHECK(r["result"]["greeting"] == "hi");
    if (r["task_id"] == "flaky") {
      CHECK(r["success"] == true);
      CHECK(r["attempts"] == 2);
    }
    if (r["task_id"] == "doomed") {
      CHECK(r["success"] == false);
      CHECK(r["error"].get<std::string>().rfind("always", 0) == 0);
      CHECK(r["attempts"] == 4); // max-retries 3
    }
    if (r["task_id"] == "uname")
      CHECK(r["result"]["stdout"].get<std::string>().find("Linux") == 0);
  }

  auto table = d.ctl({"results", id});
  CHECK(table.exit_code == 0);
  CHECK(table.out.find("TASK") == 0);
  CHECK(table.out.find("doomed  FAILED") != std::string::npos);

  auto stats = d.ctl_json({"stats"});
  CHECK(stats["total_batches"] == 1);
  CHECK(stats["total_tasks"] == 5);
  CHECK(stats["completed_tasks"] == 4);
  CHECK(stats["failed_tasks"] == 1);
  CHECK(stats["max_concurrent_workers"] == 3);
  CHECK(stats["summary"]["total_results"] == 5);

  auto workers = d.ctl_json({"workers"});
  REQUIRE(workers.is_array());
  CHECK(workers.size() >= 5);
  CHECK(workers[0].contains("worker_id"));

  // What the log says about the batch.
  CHECK(d.count_in_log("batch " + id + " started") == 1);
  CHECK(d.count_in_log("batch " + id + " finished partial") == 1);
  CHECK(d.terminate() == 0);
  CHECK(d.count_in_log("fleetd stopped; database closed") == 1);
}

TEST_CASE("fleetctl reports bad input on one line with a non-zero exit, and changes nothing") {
  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  auto bad = d.file("bad.jsonl");
  write_file(bad, "{\"type\": \"echo\"}\n{\"type\": \"echo\", oops}\n");
  auto r = d.ctl({"submit", bad});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("bad.jsonl line 2, column 18: invalid JSON: syntax error while parsing object key - invalid literal; expected string literal near") != std::string::npos);
  CHECK(r.err.find('\n') == r.err.size() - 1);

  auto unknown_type = d.file("unknown.json");
  write_file(unknown_type, R"([{"type": "teleport"}])");
  r = d.ctl({"submit", unknown_type});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("teleport") != std::string::npos);

  auto dup = d.file("dup.json");
  write_file(dup, R"([{"id": "a", "type": "echo"}, {"id": "a", "type": "echo"}])");
  r = d.ctl({"submit", dup});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("duplicate task id") != std::string::npos);

  for (auto cmd : {"status", "results", "wait", "cancel"}) {
    CAPTURE(cmd);
    r = d.ctl({cmd, "batch-nope"});
    CHECK(r.exit_code == 2);
    CHECK(r.err == "fleetctl: batch batch-nope not found\n");
  }
  r = d.ctl({"scale", "0"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("at least 1") != std::string::npos);
  r = d.ctl({"config", "set", "warp=9"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("unknown setting \"warp\"") != std::string::npos);
  r = d.ctl({"config", "set", "backoff-cap=1"});
  CHECK(r.exit_code == 2);
  r = d.ctl({"frobnicate"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("unknown command") != std::string::npos);
  CHECK(d.query_int("SELECT count(*) FROM batches") == 0);
  CHECK(d.query_int("SELECT count(*) FROM config_overrides") == 0);
  CHECK(d.alive());
}

TEST_CASE("fleetctl without a daemon says so and --help works for the program and each command") {
  auto port = std::to_string(free_port());
  auto r = run({bin("fleetctl"), "--port", port, "stats"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("cannot reach fleetd at 127.0.0.1:" + port) != std::string::npos);
  r = run({bin("fleetctl"), "--help"});
  CHECK(r.exit_code == 0);
  // Each command's summary is one line that ends: no sentence cut at the first line break.
  auto commands = r.out.substr(r.out.find("Commands:\n"), r.out.find("\nOptions:") - r.out.find("Commands:\n"));
  std::istringstream lines{commands};
  int summaries = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > 31 && line.compare(0, 2, "  ") == 0 && line[30] == ' ' && line[31] != ' ') {
      CAPTURE(line);
      CHECK(line.back() == '.');
      CHECK(line.size() <= 100);
      ++summaries;
    }
  }
  CHECK(summaries == 19);
  for (auto cmd : {"submit", "status", "results", "wait", "cancel", "failed", "replay", "pause", "resume",
                   "scale", "stats", "prune", "schedule", "workers", "nodes", "config", "graph", "queues",
                   "queue"}) {
    CAPTURE(cmd);
    CHECK(r.out.find(std::string{"  "} + cmd) != std::string::npos);
    auto one = run({bin("fleetctl"), cmd, "--help"});
    CHECK(one.exit_code == 0);
    CHECK(one.out.find(std::string{"usage: fleetctl [--host H] [--port P] [--json] "} + cmd) == 0);
  }
  r = run({bin("fleetd"), "--help"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("--fleet.drain-timeout") != std::string::npos);
}

TEST_CASE("tasks from stdin, cancel, scale and config set, which survive a restart") {
  fleetd_process d{"max-workers=1\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  auto tasks = d.file("slow.json");
  write_file(tasks, R"([{"type": "sleep", "data": {"ms": 5000}}, {"type": "sleep", "data": {"ms": 5000}}])");
  auto r = d.ctl({"submit", "-"}, tasks);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto id = r.out.substr(0, r.out.find('\n'));
  REQUIRE(eventually([&] { return d.ctl_json({"status", id})["status"] == "processing"; }));
  r = d.ctl({"cancel", id});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "batch " + id + " cancelled\n");
  auto st = d.ctl_json({"status", id});
  CHECK(st["status"] == "cancelled");
  CHECK(st["cancelled"] == 2);
  r = d.ctl({"cancel", id});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("already finished") != std::string::npos);
  CHECK(d.ctl({"wait", id}).exit_code == 1);

  // Some tasks of a batch: the running one stops, the waiting one ends, the rest runs.
  write_file(tasks, R"([{"id": "a", "type": "sleep", "data": {"ms": 60000}}, {"id": "b", "type": "sleep", "data": {"ms": 60000}},)"
                    R"( {"id": "c", "type": "echo"}])");
  r = d.ctl({"submit", tasks});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto some = r.out.substr(0, r.out.find('\n'));
  REQUIRE(eventually([&] { return d.ctl_json({"status", some})["status"] == "processing"; }));
  r = d.ctl({"cancel", some, "x"});
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(r.err.find("has no task \"x\"") != std::string::npos, r.err);
  r = d.ctl({"cancel", some, "a", "b"});
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out == "2 of 2 tasks of batch " + some + " cancelled\n");
  CHECK(d.ctl({"wait", some}).exit_code == 1); // c completes: partial
  st = d.ctl_json({"status", some});
  CHECK(st["completed"] == 1);
  CHECK(st["cancelled"] == 2);
  r = d.ctl({"--json", "cancel", some, "c"});
  CHECK(r.exit_code == 1); // nothing left to cancel
  CHECK(nlohmann::json::parse(r.out)["cancelled"] == 0);

  CHECK(d.ctl_json({"scale", "6"})["max_concurrent_workers"] == 6);
  auto cfg = d.ctl_json({"config", "set", "max-retries=7", "retry-failed-tasks=false"});
  CHECK(cfg["max_retries"] == 7);
  CHECK(cfg["retry_failed_tasks"] == false);
  CHECK(d.terminate() == 0);
  REQUIRE_MESSAGE(d.start(), d.log());
  cfg = d.ctl_json({"config"});
  CHECK(cfg["max_concurrent_workers"] == 6);
  CHECK(cfg["max_retries"] == 7);
  CHECK(cfg["retry_failed_tasks"] == false);
  CHECK(cfg["backoff_base_ms"] == 50); // from the file
  CHECK(d.count_in_log("max-workers = 6 was set at runtime") == 1);
}

TEST_CASE("fleetctl results pages through a batch bigger than a page") {
  fleetd_process d{"max-workers=8\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  std::string lines;
  for (int i = 0; i < 2500; ++i)
    lines += R"({"type": "echo", "data": {"i": )" + std::to_string(i) + "}}\n";
  auto tasks = d.file("many.jsonl");
  write_file(tasks, lines);
  auto r = d.ctl({"submit", "--wait", tasks});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto id = r.out.substr(0, r.out.find('\n'));
  auto results = d.ctl_json({"results", id});
  REQUIRE(results.size() == 2500);
  std::set<std::string> ids;
  for (auto& x : results)
    ids.insert(x["task_id"].get<std::string>());
  CHECK(ids.size() == 2500);
  CHECK(results[2499]["result"]["i"] == 2499);
  auto table = d.ctl({"results", id});
  CHECK(table.exit_code == 0);
  CHECK(std::count(table.out.begin(), table.out.end(), '\n') == 2501);
}

TEST_CASE("fleetctl streams a file bigger than a chunk as an upload, and a bad line far in stores nothing") {
  fleetd_process d{"max-workers=16\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  std::string lines;
  for (int i = 0; i < 25'000; ++i)
    lines += R"({"type": "echo"})" "\n";
  auto big = d.file("big.jsonl");
  write_file(big, lines);
  auto id = d.submit(big);
  CHECK(d.ctl_json({"status", id})["total"] == 25'000);
  CHECK(d.query_int("SELECT count(*) FROM uploads") == 0);
  CHECK(d.ctl({"wait", id}).exit_code == 0);

  auto bad = d.file("bad-late.jsonl");
  write_file(bad, lines + "{\"type\": \"echo\", \"oops\": 1}\n");
  auto r = d.ctl({"submit", bad});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("bad-late.jsonl line 25001: unknown field \"oops\"") != std::string::npos);
  CHECK(d.query_int("SELECT count(*) FROM batches") == 1); // only the first batch
  CHECK(d.query_int("SELECT count(*) FROM uploads") == 1); // abandoned, expires after 24 h

  // A task only fleetd can refuse (an unknown type), far in: the error names where its chunk starts.
  std::string mixed;
  for (int i = 0; i < 25'000; ++i)
    mixed += i == 15'000 ? R"({"type": "no-such-type"})" "\n" : R"({"type": "echo"})" "\n";
  auto refused_file = d.file("unknown-type.jsonl");
  write_file(refused_file, mixed);
  r = d.ctl({"submit", refused_file});
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(r.err.find("in the chunk starting at task 10000") != std::string::npos, r.err);
  CHECK_MESSAGE(r.err.find("no-such-type") != std::string::npos, r.err);
  CHECK(d.query_int("SELECT count(*) FROM batches") == 1);
}

TEST_CASE("fleetctl submit --key is idempotent, for one message and for an upload, across a restart") {
  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  auto small = d.file("small.jsonl");
  write_file(small, "{\"type\": \"echo\"}\n{\"type\": \"echo\"}\n");
  auto first = d.ctl({"submit", "--key", "job-1", small});
  REQUIRE_MESSAGE(first.exit_code == 0, first.err);
  auto again = d.ctl({"submit", "--key=job-1", small});
  REQUIRE_MESSAGE(again.exit_code == 0, again.err);
  CHECK(again.out == first.out);
  // The key is part of the batch's status.
  auto keyed = first.out.substr(0, first.out.find('\n'));
  CHECK(d.ctl_json({"status", keyed})["key"] == "job-1");
  auto table = d.ctl({"status", keyed}).out;
  CHECK_MESSAGE((table.find("\nkey ") != std::string::npos && table.find(" job-1\n") != std::string::npos), table);
  std::string lines;
  for (int i = 0; i < 12'000; ++i)
    lines += R"({"type": "echo"})" "\n";
  auto big = d.file("big.jsonl");
  write_file(big, lines);
  auto uploaded = d.ctl({"submit", "--key", "job-2", big});
  REQUIRE_MESSAGE(uploaded.exit_code == 0, uploaded.err);
  CHECK(d.terminate() == 0);
  REQUIRE(d.start());
  auto reuploaded = d.ctl({"submit", "--key", "job-2", big});
  REQUIRE_MESSAGE(reuploaded.exit_code == 0, reuploaded.err);
  CHECK(reuploaded.out == uploaded.out);
  CHECK(d.query_int("SELECT count(*) FROM batches") == 2);
  CHECK(d.query_int("SELECT count(*) FROM tasks") == 12'002);
  CHECK(d.query_int("SELECT count(*) FROM uploads") == 0);
  CHECK(d.count_in_log("submit with key \"job-2\": batch") == 1);
  auto misplaced = d.ctl({"status", "--key", "x", "batch-1"});
  CHECK(misplaced.exit_code == 2);
  CHECK(misplaced.err.find("--key belongs to submit") != std::string::npos);
}

TEST_CASE("fleetctl failed lists the dead letters and replay --batch runs them again") {
  fleetd_process d{"max-retries=0\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  auto tasks = d.file("tasks.jsonl");
  write_file(tasks, "{\"id\": \"ok\", \"type\": \"echo\"}\n"
                    "{\"id\": \"flaky\", \"type\": \"fail\", \"data\": {\"times\": 1, \"error\": \"transient\"}}\n");
  auto submitted = d.ctl({"submit", "--wait", tasks});
  CHECK(submitted.exit_code == 1); // partial
  auto id = submitted.out.substr(0, submitted.out.find('\n'));
  auto listed = d.ctl({"failed", "--all"});
  REQUIRE_MESSAGE(listed.exit_code == 0, listed.err);
  CHECK(listed.out.find("flaky") != std::string::npos);
  CHECK(listed.out.find("transient") != std::string::npos);
  auto letters = d.ctl_json({"failed", id});
  REQUIRE(letters.size() == 1);
  CHECK(letters[0]["task_id"] == "flaky");
  CHECK(letters[0]["attempts"] == 1);
  auto no_batch = d.ctl({"replay", "flaky"});
  CHECK(no_batch.exit_code == 2);
  CHECK(no_batch.err.find("replay needs --batch BATCH") != std::string::npos);
  auto not_failed = d.ctl({"replay", "--batch", id, "ok"});
  CHECK(not_failed.exit_code == 2);
  CHECK(not_failed.err.find("not failed") != std::string::npos);
  auto retried = d.ctl({"replay", "--batch", id});
  REQUIRE_MESSAGE(retried.exit_code == 0, retried.err);
  CHECK(retried.out == "1 failed tasks of " + id + " replayed\n");
  CHECK(d.ctl({"wait", id}).exit_code == 0);
  CHECK(d.ctl_json({"failed", id}).empty());
  CHECK(d.query_int("SELECT count(*) FROM task_history WHERE task_id = 'flaky'") == 2);
}

TEST_CASE("fleetctl pause and resume, of the fleet and of a batch") {
  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  // An empty or missing batch id is not the whole fleet: `pause "$BATCH"` with BATCH unset.
  for (auto args : {std::vector<std::string>{"pause"}, {"pause", ""}, {"resume", ""}, {"failed", ""}, {"failed"}}) {
    auto refused = d.ctl(args);
    CHECK(refused.exit_code == 2);
    CHECK_MESSAGE(refused.err.find("needs a batch id; for every batch say so with --fleet (or --all)")
                    != std::string::npos, refused.err);
  }
  CHECK(d.ctl({"pause", "--fleet", "batch-x"}).exit_code == 2);
  CHECK(d.ctl({"stats", "--fleet"}).exit_code == 2);
  CHECK(d.ctl_json({"stats"})["paused"] == false);
  auto paused = d.ctl({"pause", "--fleet"});
  REQUIRE_MESSAGE(paused.exit_code == 0, paused.err);
  CHECK(paused.out == "the fleet paused\n");
  CHECK(d.ctl({"pause", "--all"}).out == "the fleet was already paused\n");
  CHECK(d.ctl_json({"stats"})["paused"] == true);
  auto tasks = d.file("tasks.jsonl");
  write_file(tasks, "{\"type\": \"echo\"}\n");
  auto id = d.submit(tasks);
  CHECK(d.ctl({"pause", id}).exit_code == 0);
  CHECK(d.ctl_json({"status", id})["paused"] == true);
  CHECK(d.ctl({"status", id}).out.find("(paused)") != std::string::npos);
  CHECK(d.ctl({"resume", "--fleet"}).out == "the fleet resumed\n");
  CHECK(d.ctl({"resume", id}).out == "batch " + id + " resumed\n");
  CHECK(d.ctl({"wait", id}).exit_code == 0);
  auto unknown = d.ctl({"pause", "batch-nope"});
  CHECK(unknown.exit_code == 2);
}

TEST_CASE("the C++ example client runs the seed's usage example against fleetd") {
  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  auto r = run({bin("fleet-client-example"), "127.0.0.1", std::to_string(d.port())});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out.find("Batch submitted: batch-") == 0);
  CHECK(r.out.find("Progress: 100% (completed)") != std::string::npos);
  CHECK(r.out.find("Result: task-2 ok {\"value\": 2}") != std::string::npos);
  CHECK(r.out.find("Result: task-4 ok") != std::string::npos);
  CHECK(r.out.find("success rate 100.0%") != std::string::npos);
}

TEST_CASE("fleetctl submit --delay and --at hold tasks until their time, in one message and as an upload") {
  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  auto file = d.file("two.jsonl");
  write_file(file, "{\"id\":\"a\",\"type\":\"echo\"}\n{\"id\":\"b\",\"type\":\"echo\",\"delay_ms\":1}\n");
  auto r = d.ctl({"submit", "--delay", "1h", file});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto id = r.out.substr(0, r.out.find('\n'));
  // a took --delay; b kept its own delay and runs.
  CHECK(eventually([&] { return d.ctl_json({"status", id})["completed"] == 1; }));
  auto st = d.ctl_json({"status", id});
  CHECK(st["scheduled"] == 1);
  CHECK(st["status"] == "processing");
  auto created = st["created_at"].get<int64_t>();
  auto next = st["next_run_at"].get<int64_t>();
  CHECK(next >= created + 3'600'000);
  CHECK(next <= created + 3'600'000 + 5'000);
  auto text = d.ctl({"status", id});
  CHECK_MESSAGE(text.out.find("scheduled") != std::string::npos, text.out);
  CHECK(d.ctl_json({"stats"})["scheduled_tasks"] == 1);
  CHECK(d.query_int("SELECT count(*) FROM tasks WHERE task_id = 'a' AND state = 'scheduled'") == 1);

  // An upload (more than one chunk) with --at: every task waits; cancel ends them all.
  std::string lines;
  for (int i = 0; i < 12'000; ++i)
    lines += R"({"type": "echo"})" "\n";
  auto big = d.file("big.jsonl");
  write_file(big, lines);
  r = d.ctl({"submit", "--at", "2099-01-01T00:00:00Z", big});
  CHECK(r.exit_code == 2); // beyond fleet.max-delay: refused, nothing stored
  CHECK_MESSAGE(r.err.find("further away than fleet.max-delay") != std::string::npos, r.err);
  r = d.ctl({"submit", "--delay", "2d", big});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto up = r.out.substr(0, r.out.find('\n'));
  CHECK(d.ctl_json({"status", up})["scheduled"] == 12'000);
  CHECK(d.ctl({"cancel", up}).exit_code == 0);
  CHECK(d.ctl_json({"status", up})["cancelled"] == 12'000);
  CHECK(d.ctl_json({"stats"})["scheduled_tasks"] == 1);

  for (const auto& [args, expected] : std::vector<std::pair<std::vector<std::string>, std::string>>{
         {{"submit", "--delay", "soon", file}, "--delay needs a duration such as 30s"},
         {{"submit", "--delay", "10", file}, "--delay needs a duration"},
         {{"submit", "--at", "tomorrow", file}, "--at needs an RFC 3339 time"},
         {{"submit", "--at", "2026-12-02T10:00:00Z", "--delay", "1m", file}, "not both"},
         {{"status", "--delay", "1m", id}, "--no-retry, --queue and --group belong to submit"},
         {{"submit", "--at", "2001-01-01T00:00:00Z", file}, "more than an hour in the past"}}) {
    CAPTURE(expected);
    r = d.ctl(args);
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find(expected) != std::string::npos, r.err);
  }
  CHECK(d.query_int("SELECT count(*) FROM batches") == 2);
}

TEST_CASE("fleetctl submit gives its policy flags to the tasks that set none, in one message and as an upload") {
  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  auto file = d.file("policies.jsonl");
  write_file(file, "{\"id\":\"plain\",\"type\":\"fail\"}\n"
                   "{\"id\":\"own\",\"type\":\"fail\",\"max_retries\":1,\"timeout_ms\":60000}\n"
                   "{\"id\":\"never\",\"type\":\"fail\",\"retry\":false}\n");
  auto r = d.ctl({"submit", "--wait", "--task-timeout", "2s", "--max-retries", "0", "--backoff", "10ms", file});
  CHECK_MESSAGE(r.exit_code == 1, r.err); // every task fails
  auto policy = [&](const std::string& id) {
    return d.query_text("SELECT quote(timeout_ms) || ' ' || quote(max_retries) || ' ' || quote(backoff_ms) || ' '"
                        " || quote(retry) FROM task_policies JOIN tasks ON seq = task_seq WHERE task_id = '" + id + "'");
  };
  CHECK(policy("plain") == "2000 0 10 NULL");
  CHECK(policy("own") == "60000 1 10 NULL");
  CHECK(policy("never") == "2000 NULL 10 0");
  CHECK(d.query_int("SELECT attempts FROM tasks WHERE task_id = 'plain'") == 1);
  CHECK(d.query_int("SELECT attempts FROM tasks WHERE task_id = 'own'") == 2);
  CHECK(d.query_int("SELECT attempts FROM tasks WHERE task_id = 'never'") == 1);

  std::string lines;
  for (int i = 0; i < 12'000; ++i)
    lines += R"({"type": "echo"})" "\n";
  auto big = d.file("big.jsonl");
  write_file(big, lines);
  r = d.ctl({"submit", "--no-retry", big});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(d.query_int("SELECT count(*) FROM task_policies WHERE retry = 0") == 12'000 + 1); // and "never"

  for (const auto& [args, expected] : std::vector<std::pair<std::vector<std::string>, std::string>>{
         {{"submit", "--task-timeout", "0s", file}, "--task-timeout needs a duration"},
         {{"submit", "--max-retries", "-1", file}, "--max-retries must be between 0 and 1000"},
         {{"submit", "--max-retries", "1001", file}, "--max-retries must be between 0 and 1000"},
         {{"submit", "--backoff", "soon", file}, "--backoff needs a duration"},
         {{"submit", "--no-retry", "--max-retries", "2", file}, "retry is false but max_retries is 2"},
         {{"stats", "--no-retry"}, "belong to submit"}}) {
    CAPTURE(expected);
    r = d.ctl(args);
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find(expected) != std::string::npos, r.err);
  }
  CHECK(d.query_int("SELECT count(*) FROM batches") == 2);
}

TEST_CASE("fleetctl prune --now runs a retention pass and reports it, and young work stays") {
  fleetd_process d{"retain-finished=\"1h\"\nretain-events=\"2h\"\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  auto file = d.file("one.jsonl");
  write_file(file, "{\"type\":\"echo\"}\n");
  auto id = d.submit(file);
  CHECK(d.ctl({"wait", id}).exit_code == 0);
  auto report = d.ctl_json({"prune", "--now"});
  CHECK(report["batches"] == 0);
  CHECK(report["events"] == 0);
  CHECK(report.contains("bytes_freed"));
  auto text = d.ctl({"prune", "--now"});
  CHECK(text.exit_code == 0);
  CHECK_MESSAGE(text.out.find("batches") != std::string::npos, text.out);
  CHECK(d.query_int("SELECT count(*) FROM batches") == 1);
  auto r = d.ctl({"prune"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("prune needs --now") != std::string::npos);
  r = d.ctl({"stats", "--now"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--now belongs to prune") != std::string::npos);
}

TEST_CASE("fleetctl runs a graph in order, draws it, and lists each task with status --tasks") {
  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  auto file = d.file("graph.jsonl");
  write_file(file, "{\"id\":\"report\",\"type\":\"echo\",\"after\":[\"left\",\"right\"]}\n"
                   "{\"id\":\"left\",\"type\":\"echo\",\"data\":{\"n\":1},\"after\":[\"root\"]}\n"
                   "{\"id\":\"right\",\"type\":\"echo\",\"data\":{\"n\":2},\"after\":[\"root\"]}\n"
                   "{\"id\":\"root\",\"type\":\"echo\"}\n");
  auto r = d.ctl({"submit", "--wait", file});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto id = d.query_text("SELECT id FROM batches");
  CHECK(d.query_int("SELECT count(*) FROM task_deps") == 4);
  CHECK(d.query_int("SELECT min(a.started_at) FROM attempts a JOIN tasks t ON t.seq = a.task_seq"
                    " WHERE t.task_id = 'report'")
        >= d.query_int("SELECT max(a.finished_at) FROM attempts a JOIN tasks t ON t.seq = a.task_seq"
                       " WHERE t.task_id IN ('left', 'right')"));
  r = d.ctl({"graph", id});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out == "root [succeeded]\n  left [succeeded]\n    report [succeeded]\n  right [succeeded]\n    report (above)\n");
  r = d.ctl({"graph", "--dot", id});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("digraph") == 0);
  CHECK(r.out.find("\"left\" -> \"report\";") != std::string::npos);
  CHECK(r.out.find("\"root\" -> \"right\";") != std::string::npos);
  r = d.ctl({"status", "--tasks", id});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("AFTER") != std::string::npos);
  {
    auto at = r.out.find("\nleft ");
    REQUIRE(at != std::string::npos);
    auto line = r.out.substr(at + 1, r.out.find('\n', at + 1) - at - 1);
    CAPTURE(line);
    CHECK(line.find(" succeeded ") != std::string::npos);
    CHECK(line.size() > 5);
    CHECK(line.substr(line.size() - 5) == " root");
  }
  r = d.ctl({"--json", "status", "--tasks", id});
  REQUIRE(r.exit_code == 0);
  auto doc = nlohmann::json::parse(r.out);
  CHECK(doc["status"]["blocked"] == 0);
  REQUIRE(doc["tasks"].size() == 4);
  CHECK(doc["tasks"][0]["after"] == nlohmann::json::array({"left", "right"}));
  CHECK(doc["tasks"][0]["state"] == "succeeded");

  write_file(file, "{\"id\":\"a\",\"type\":\"echo\",\"after\":[\"b\"]}\n{\"id\":\"b\",\"type\":\"echo\",\"after\":[\"a\"]}\n");
  r = d.ctl({"submit", file});
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(r.err.find("the dependencies form a cycle") != std::string::npos, r.err);
  r = d.ctl({"graph", "--tasks", id});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--tasks belongs to status") != std::string::npos);
  r = d.ctl({"graph", "no-such-batch"});
  CHECK(r.exit_code == 2);
  CHECK(d.query_int("SELECT count(*) FROM batches") == 1);
}
