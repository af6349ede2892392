// fleetctl with hostile or careless input (issue 16): numbers that are not finite, ids that would
// drive a terminal, data too big or too deep for fleetd, integers beyond a double's precision.

#include "fleetd_process.hpp"

#include <fmt/format.h>

using namespace fleet::test;

TEST_CASE("config set refuses what is not a finite number of the field's kind, quoting what was typed") {
  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  auto refused = [&](const std::string& assignment, const std::string& expected) {
    auto r = d.ctl({"--timeout", "5000", "config", "set", assignment});
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err == "fleetctl: " + expected + "\n", r.err);
  };
  // inf made CAF's serializer loop forever in fleetctl; nan arrived as -1.
  refused("backoff-factor=inf", "backoff-factor must be a finite decimal number (got \"inf\")");
  refused("backoff-factor=-inf", "backoff-factor must be a finite decimal number (got \"-inf\")");
  refused("backoff-factor=nan", "backoff-factor must be a finite decimal number (got \"nan\")");
  refused("backoff-factor=0x2", "backoff-factor must be a finite decimal number (got \"0x2\")");
  refused("max-workers=1e9", "max-workers must be a whole number (got \"1e9\")");
  refused("max-workers=+5", "max-workers must be a whole number (got \"+5\")");
  refused("max-workers= 5", "max-workers must be a whole number (got \" 5\")");
  auto scale = d.ctl({"scale", "\x1b[2J7"});
  CHECK(scale.err == "fleetctl: scale needs a whole number of workers (got \"\\x1b[2J7\")\n");
  CHECK(d.ctl({"config", "set", "backoff-factor=2.5"}).exit_code == 0);
  CHECK(d.ctl_json({"config"})["backoff_factor"] == 2.5);
}

TEST_CASE("ids and errors that hold control characters are printed escaped, never raw") {
  fleetd_process d("max-retries=0\n");
  REQUIRE_MESSAGE(d.start(), d.log());
  auto file = d.file("tasks.jsonl");
  write_file(file, R"({"id":"a\u001b[31mRED\u001b[0m\r\nfake line","type":"fail","data":{"error":"x\u001b]0;pwned\u0007"}})"
                   "\n");
  auto batch = d.submit(file);
  CHECK(d.ctl({"wait", batch}).exit_code == 1);
  for (auto command : {std::vector<std::string>{"results", batch}, {"failed", batch}, {"workers"}}) {
    auto r = d.ctl(command);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find('\x1b') == std::string::npos);
    CHECK(r.out.find('\r') == std::string::npos);
    CHECK(r.out.find("a\\x1b[31mRED\\x1b[0m\\r\\nfake line") != std::string::npos);
  }
  // The JSON forms carry the id as it is, escaped as JSON does.
  auto results = d.ctl_json({"results", batch});
  CHECK(results[0]["task_id"] == "a\x1b[31mRED\x1b[0m\r\nfake line");
  // An unknown id echoed in an error is escaped too.
  auto unknown = d.ctl({"status", "x\x1b[2Jy\nz"});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err == "fleetctl: batch x\\x1b[2Jy\\nz not found\n");
}

TEST_CASE("task data reaches fleetd and comes back exactly as written") {
  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  auto file = d.file("big.jsonl");
  write_file(file, R"({"id":"big","type":"echo","data":123456789012345678901234567890})" "\n"
                   R"({"id":"exact","type":"echo","data":{"n": 0.1000000000000000055511151231257827, "m": -0}})" "\n");
  auto batch = d.submit(file);
  REQUIRE(d.ctl({"wait", batch}).exit_code == 0);
  auto table = d.ctl({"results", batch});
  CHECK(table.out.find("123456789012345678901234567890") != std::string::npos);
  auto json = d.ctl({"--json", "results", batch});
  CHECK_MESSAGE(json.out.find(R"("result":123456789012345678901234567890)") != std::string::npos, json.out);
  CHECK(json.out.find(R"("result":{"n":0.1000000000000000055511151231257827,"m":-0})") != std::string::npos);
  CHECK(d.query_int("SELECT count(*) FROM tasks WHERE result = '123456789012345678901234567890'") == 1);
}

TEST_CASE("what fleetd would refuse is refused by fleetctl before it sends anything") {
  fleetd_process d("max-task-data=300000\nmax-id-length=16\n");
  REQUIRE_MESSAGE(d.start(), d.log());
  auto refused = [&](const std::string& text, const std::string& expected) {
    auto file = d.file("input.jsonl");
    write_file(file, text);
    auto r = d.ctl({"submit", file});
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find(expected) != std::string::npos, r.err);
    CHECK(r.err.size() < 1000);
  };
  // A line too long for fleetd's limits is not even read whole (here 5 MB of data).
  refused(R"({"type":"echo","data":")" + std::string(5'000'000, 'x') + "\"}\n",
          "input.jsonl line 1: the line is longer than");
  refused(R"({"type":"echo","data":")" + std::string(300'100, 'x') + "\"}\n",
          "input.jsonl line 1: data is 300102 bytes, more than the limit of 300000 (fleet.max-task-data)");
  refused(R"({"type":"echo","id":")" + std::string(10'000'000, 'i') + "\"}\n", "input.jsonl line 1: the line is longer");
  refused(R"({"type":"echo","id":")" + std::string(100, 'i') + "\"}\n",
          "is longer than 16 bytes (fleet.max-id-length)");
  // Deeper than fleetd takes: refused with a sentence, where fleetctl used to crash (stack overflow).
  refused(R"({"type":"echo","data":)" + std::string(100'000, '[') + std::string(100'000, ']') + "}\n",
          "JSON nested deeper than 1001 levels (task data may nest up to 1000)");
  CHECK(d.count_in_log("submitted") == 0);
}
