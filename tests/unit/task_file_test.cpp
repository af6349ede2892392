#include "fleetd/error.hpp"
#include "fleet/json_text.hpp"
#include "fleet/task_file.hpp"
#include "fleet/validation.hpp"

#include <doctest/doctest.h>

#include <sstream>

using namespace fleet;

namespace {

std::string error_of(std::string_view text) {
  auto parsed = parse_task_file(text, "tasks.json");
  REQUIRE_FALSE(parsed);
  return error_text(parsed.error());
}

} // namespace

TEST_CASE("a JSON array of tasks is read with defaults for the optional fields") {
  auto parsed = parse_task_file(R"([
    {"id": "a", "type": "echo", "data": {"x": [1, 2]}, "priority": 5},
    {"type": "sleep", "data": {"ms": 10}},
    {"type": "echo"}
  ])", "tasks.json");
  REQUIRE(parsed);
  REQUIRE(parsed->size() == 3);
  CHECK((*parsed)[0].id == "a");
  CHECK((*parsed)[0].data == R"({"x": [1, 2]})"); // as written
  CHECK((*parsed)[0].priority == 5);
  CHECK((*parsed)[1].id == "task-2");
  CHECK((*parsed)[1].priority == 0);
  CHECK((*parsed)[2].data == "{}");
}

TEST_CASE("JSON Lines are read line by line, blank lines skipped") {
  auto parsed = parse_task_file("{\"type\":\"echo\"}\n\n{\"id\":\"b\",\"type\":\"fail\"}\n", "t.jsonl");
  REQUIRE(parsed);
  REQUIRE(parsed->size() == 2);
  CHECK((*parsed)[0].id == "task-1");
  CHECK((*parsed)[1].id == "b");
}

TEST_CASE("generated ids are task-N by position, whatever ids the file uses") {
  auto parsed = parse_task_file(R"([{"type":"echo"},{"id":"task-1","type":"echo"}])", "x");
  REQUIRE(parsed);
  CHECK((*parsed)[0].id == "task-1"); // fleetd refuses the pair as duplicates
  CHECK((*parsed)[1].id == "task-1");
}

TEST_CASE("JSON Lines stream in chunks with line numbers counted across chunks") {
  std::string text;
  for (int i = 0; i < 25; ++i)
    text += "{\"type\": \"echo\"}\n" + std::string(i == 10 ? "\n" : "");
  text += "{\"type\": 7}\n";
  std::istringstream in{text};
  task_stream stream{in, "big.jsonl"};
  auto first = stream.next(10);
  REQUIRE(first);
  CHECK(first->size() == 10);
  CHECK(first->back().id == "task-10");
  auto second = stream.next(10);
  REQUIRE(second);
  CHECK(second->size() == 10);
  CHECK(second->front().id == "task-11");
  CHECK_FALSE(stream.done());
  auto third = stream.next(10);
  REQUIRE_FALSE(third);
  CHECK(error_text(third.error()) == "big.jsonl line 27: \"type\" must be a non-empty string");
}

TEST_CASE("a JSON array is handed out in chunks too") {
  std::istringstream in{R"([{"type":"echo"},{"type":"echo"},{"type":"echo"}])"};
  task_stream stream{in, "a.json"};
  auto first = stream.next(2);
  REQUIRE(first);
  CHECK(first->size() == 2);
  auto rest = stream.next(2);
  REQUIRE(rest);
  CHECK(rest->size() == 1);
  CHECK(rest->front().id == "task-3");
  CHECK(stream.done());
}

TEST_CASE("malformed task files name the line and the problem") {
  CHECK(error_of("{\"type\":\"echo\"}\n{\"type\": \"echo\",}\n")
        == "tasks.json line 2, column 17: invalid JSON: syntax error while parsing object key - unexpected '}'; "
           "expected string literal");
  CHECK(error_of("[\n{\"type\":\"echo\"},\n{\"type\" \"echo\"}\n]").find("tasks.json line 3, column ") == 0);
  CHECK(error_of("{\"type\":\"echo\"}\n{\"id\":\"x\"}\n") == "tasks.json line 2: the task has no \"type\"");
  CHECK(error_of("{\"type\":\"echo\",\"prio\":1}").find("tasks.json line 1: unknown field \"prio\"") == 0);
  CHECK(error_of("{\"type\":\"echo\",\"priority\":1.5}") == "tasks.json line 1: \"priority\" must be an integer");
  CHECK(error_of("{\"type\":\"echo\",\"priority\":99999999999}").find("out of range") != std::string::npos);
  CHECK(error_of("{\"type\":\"echo\",\"id\":7}") == "tasks.json line 1: \"id\" must be a non-empty string");
  // Found by fuzz/task_file_fuzzer: an empty type (or id) used to pass the reader.
  CHECK(error_of("{\"type\":\"\"}") == "tasks.json line 1: \"type\" must be a non-empty string");
  CHECK(error_of("{\"type\":\"echo\",\"id\":\"\"}") == "tasks.json line 1: \"id\" must be a non-empty string");
  // Found by fuzz/task_file_fuzzer: a number beyond a double threw past the reader.
  CHECK(error_of("{\"type\":\"echo\"}\n{\"type\":\"echo\",\"data\":1e999}") == "tasks.json line 2: invalid JSON: a number is out of range");
  CHECK(error_of("[{\"type\":\"echo\",\"data\":-1e999}]") == "tasks.json: invalid JSON: a number is out of range");
  // Above INT64_MAX nlohmann keeps an unsigned integer, which must not wrap into range.
  CHECK(error_of("{\"type\":\"echo\",\"priority\":18446744073709551615}").find("out of range") != std::string::npos);
  CHECK(error_of("[1]") == "tasks.json task 1 of the array: a task must be a JSON object, not number");
  CHECK(error_of("  \n ") == "tasks.json: no tasks");
  CHECK(error_of("[]") == "tasks.json: no tasks");
}

TEST_CASE("a JSON syntax error keeps its reason and position, and echoes only a short printable excerpt") {
  // The reason used to be cut down to nlohmann's echo of the input ("invalid JSON: e'").
  CHECK(error_of("[{\"type\":\"echo\"},\n {\"type\": echo}]")
        == "tasks.json line 2, column 11: invalid JSON: syntax error while parsing value - invalid literal "
           "near '\"type\": e'");
  // Not UTF-8: the reason says so, and the byte is shown escaped, not raw.
  CHECK(error_of("{\"id\":\"a\xff\",\"type\":\"echo\"}")
        == "tasks.json line 1, column 9: invalid JSON: syntax error while parsing value - invalid string: "
           "ill-formed UTF-8 byte near '\"a\\xff'");
  // An unterminated string of 1 MB is not echoed back whole.
  auto huge = error_of("{\"type\":\"echo\",\"data\":\"" + std::string(1'000'000, 'x'));
  CHECK(huge.size() < 300);
  CHECK(huge.find("invalid JSON: syntax error while parsing value - invalid string: missing closing quote")
        != std::string::npos);
}

TEST_CASE("data is passed on as written: integers beyond a double's precision are not rounded") {
  auto parsed = parse_task_file(
    "{\"id\":\"big\",\"type\":\"echo\",\"data\":123456789012345678901234567890}\n"
    "{\"type\":\"echo\",\"data\" : {\"n\": 1.000000000000000000001, \"s\": \"a\\\"}\"} , \"priority\":1}\n"
    "[{\"type\":\"echo\",\"data\":[18446744073709551616]}]", "t.jsonl");
  REQUIRE_FALSE(parsed); // the third line is an array inside JSON Lines
  auto lines = parse_task_file(
    "{\"id\":\"big\",\"type\":\"echo\",\"data\":123456789012345678901234567890}\n"
    "{\"type\":\"echo\",\"data\" : {\"n\": 1.000000000000000000001, \"s\": \"a\\\"}\"} , \"priority\":1}\n", "t.jsonl");
  REQUIRE(lines);
  CHECK((*lines)[0].data == "123456789012345678901234567890");
  CHECK((*lines)[1].data == R"({"n": 1.000000000000000000001, "s": "a\"}"})");
  CHECK((*lines)[1].priority == 1);
  auto array = parse_task_file("[{\"type\":\"echo\",\"data\":[18446744073709551616, {\"a\":[]}]}, {\"type\":\"echo\"}]", "a.json");
  REQUIRE(array);
  CHECK((*array)[0].data == R"([18446744073709551616, {"a":[]}])");
  CHECK((*array)[1].data == "{}");
  // A repeated key: the last one, as nlohmann reads it.
  auto repeated = parse_task_file(R"({"type":"echo","data":1,"data":2})", "r.jsonl");
  REQUIRE(repeated);
  CHECK((*repeated)[0].data == "2");
}

TEST_CASE("the limits fleetd will apply are checked while reading, before a huge line is read whole") {
  submit_limits limits;
  limits.max_data_bytes = 100;
  limits.max_id_bytes = 8;
  auto read = [&](const std::string& text) {
    std::istringstream in{text};
    task_stream stream{in, "l.jsonl", limits};
    auto chunk = stream.next(100);
    REQUIRE_FALSE(chunk);
    return error_text(chunk.error());
  };
  CHECK(read("{\"type\":\"echo\",\"data\":\"" + std::string(200, 'x') + "\"}")
        == "l.jsonl line 1: data is 202 bytes, more than the limit of 100 (fleet.max-task-data)");
  CHECK(read("{\"type\":\"echo\",\"id\":\"" + std::string(20, 'i') + "\"}")
        == "l.jsonl line 1: id \"iiiiiiiiiiiiiiiiiiii\" is longer than 8 bytes (fleet.max-id-length)");
  // A line that cannot hold a task within the limits is refused after the limit, not read on.
  auto long_line = read("{\"type\":\"echo\"}\n{\"type\":\"echo\",\"data\":\"" + std::string(50'000, 'x') + "\"}\n");
  CHECK(long_line.find("l.jsonl line 2: the line is longer than") == 0);
}

TEST_CASE("nesting deeper than fleetd takes is refused before parsing, on both sides") {
  auto deep = [](size_t n) { return std::string(n, '[') + std::string(n, ']'); };
  auto ok = parse_task_file("{\"type\":\"echo\",\"data\":" + deep(max_json_nesting) + "}", "d.jsonl");
  CHECK(ok);
  CHECK(error_of("{\"type\":\"echo\",\"data\":" + deep(100'000) + "}")
        == "tasks.json line 1: JSON nested deeper than 1001 levels (task data may nest up to 1000)");
  CHECK(error_of("[{\"type\":\"echo\",\"data\":" + deep(100'000) + "}]")
        == "tasks.json: JSON nested deeper than 1001 levels (task data may nest up to 1000)");
  // fleetd's own check, for clients that are not fleetctl.
  std::vector<task> tasks{{"t", "echo", deep(max_json_nesting + 1), 0}};
  auto err = validate_batch(tasks, {});
  REQUIRE(err);
  CHECK(error_text(err) == "task 0 (id \"t\"): data nests arrays and objects deeper than 1000 levels");
}

TEST_CASE("a task's start time is read as epoch ms, an RFC 3339 time, or a delay") {
  auto parsed = parse_task_file("{\"type\":\"echo\",\"run_at\":1796193031000}\n"
                                "{\"type\":\"echo\",\"run_at\":\"2026-12-02T07:30:31.250+01:00\"}\n"
                                "{\"type\":\"echo\",\"delay_ms\":600000}\n"
                                "{\"type\":\"echo\",\"delay_ms\":0}\n",
                                "t.jsonl");
  REQUIRE(parsed);
  REQUIRE(parsed->size() == 4);
  CHECK((*parsed)[0].run_at == 1'796'193'031'000);
  CHECK((*parsed)[1].run_at == 1'796'193'031'250);
  CHECK((*parsed)[2].delay_ms == 600'000);
  CHECK((*parsed)[2].run_at == 0);
  CHECK((*parsed)[3].delay_ms == 0);
}

TEST_CASE("a start time that is not one is refused with the line and the reason") {
  CHECK(error_of(R"({"type":"echo","run_at":"tomorrow"})").find("\"run_at\" \"tomorrow\" is not an RFC 3339 time") == std::string{"tasks.json line 1: "}.size());
  CHECK(error_of(R"({"type":"echo","run_at":"2026-12-02T07:30:31"})").find("not an RFC 3339 time") != std::string::npos);
  CHECK(error_of(R"({"type":"echo","run_at":-5})").find("\"run_at\" must be a time in ms") != std::string::npos);
  CHECK(error_of(R"({"type":"echo","run_at":0})").find("\"run_at\" must be a time in ms") != std::string::npos);
  CHECK(error_of(R"({"type":"echo","run_at":1.5e12})").find("\"run_at\" must be a time in ms") != std::string::npos);
  CHECK(error_of(R"({"type":"echo","run_at":18446744073709551615})").find("\"run_at\" must be") != std::string::npos);
  CHECK(error_of(R"({"type":"echo","delay_ms":-1})").find("\"delay_ms\" must be an integer of ms, 0 or more")
        != std::string::npos);
  CHECK(error_of(R"({"type":"echo","delay_ms":"10m"})").find("\"delay_ms\" must be") != std::string::npos);
  CHECK(error_of(R"({"type":"echo","delay_ms":9223372036854775808})").find("\"delay_ms\" must be")
        != std::string::npos);
}

TEST_CASE("a task's policy is read from its fields, written back the same, and bad ones are refused") {
  auto parsed = parse_task_file("{\"type\":\"echo\",\"timeout_ms\":2500,\"max_retries\":0}\n"
                                "{\"type\":\"echo\",\"backoff_ms\":0,\"retry\":true}\n"
                                "{\"type\":\"echo\",\"retry\":false}\n"
                                "{\"type\":\"echo\"}\n",
                                "t.jsonl");
  REQUIRE(parsed);
  REQUIRE(parsed->size() == 4);
  CHECK((*parsed)[0].policy == task_policy{2'500, 0, -1, -1});
  CHECK((*parsed)[1].policy == task_policy{0, -1, 0, 1});
  CHECK((*parsed)[2].policy == task_policy{0, -1, -1, 0});
  CHECK((*parsed)[3].policy.empty());
  for (const auto& t : *parsed) {
    auto again = parse_task_file("{\"type\":\"echo\"" + policy_members_text(t.policy) + "}", "again");
    REQUIRE(again);
    CHECK((*again)[0].policy == t.policy);
  }
  CHECK(error_of(R"({"type":"echo","timeout_ms":0})").find("\"timeout_ms\" must be at least 1") != std::string::npos);
  CHECK(error_of(R"({"type":"echo","timeout_ms":-1})").find("\"timeout_ms\" must be an integer of ms") != std::string::npos);
  CHECK(error_of(R"({"type":"echo","timeout_ms":"30s"})").find("\"timeout_ms\" must be") != std::string::npos);
  CHECK(error_of(R"({"type":"echo","timeout_ms":604800001})").find("timeout_ms 604800001 is out of range") != std::string::npos);
  CHECK(error_of(R"({"type":"echo","max_retries":-1})").find("\"max_retries\" must be an integer, 0 or more") != std::string::npos);
  CHECK(error_of(R"({"type":"echo","max_retries":4294967297})").find("\"max_retries\" must be") != std::string::npos);
  CHECK(error_of(R"({"type":"echo","max_retries":1001})").find("max_retries 1001 is out of range") != std::string::npos);
  CHECK(error_of(R"({"type":"echo","backoff_ms":1.5})").find("\"backoff_ms\" must be") != std::string::npos);
  CHECK(error_of(R"({"type":"echo","retry":"no"})").find("\"retry\" must be true or false") != std::string::npos);
  CHECK(error_of(R"({"type":"echo","retry":false,"max_retries":2})").find("retry is false but max_retries is 2") != std::string::npos);
  CHECK(error_of(R"({"type":"echo","retries":2})").find("unknown field \"retries\"") != std::string::npos);
}

TEST_CASE("start times are checked against now and fleet.max-delay before anything is stored") {
  int64_t now = 1'796'193'031'000;
  auto with = [](auto set) {
    task t{"t", "echo", "{}", 0};
    set(t);
    return std::vector<task>{task{"ok", "echo", "{}", 0}, t};
  };
  CHECK_FALSE(validate_start_times(with([&](task& t) { t.run_at = now + 1000; }), now));
  CHECK_FALSE(validate_start_times(with([&](task& t) { t.run_at = now - 3'599'000; }), now)); // clock skew
  CHECK_FALSE(validate_start_times(with([&](task& t) { t.delay_ms = int64_t{365} * 86'400'000; }), now));
  auto text = [&](auto set, submit_limits limits = {}) {
    auto err = validate_start_times(with(set), now, limits);
    REQUIRE(err);
    CHECK(err == errc::invalid_task);
    return error_text(err);
  };
  CHECK(text([&](task& t) { t.run_at = now - 3'601'000; }).find("task 1 (id \"t\"): run_at") == 0);
  CHECK(text([&](task& t) { t.delay_ms = -1; }).find("delay_ms is negative") != std::string::npos);
  CHECK(text([&](task& t) { t.run_at = -1; }).find("more than an hour in the past") != std::string::npos);
  CHECK(text([&](task& t) {
          t.run_at = now + 1;
          t.delay_ms = 1;
        }).find("both set")
        != std::string::npos);
  submit_limits tight;
  tight.max_delay_ms = 60'000;
  CHECK(text([&](task& t) { t.delay_ms = 60'001; }, tight).find("longer than fleet.max-delay (1m)") != std::string::npos);
  CHECK(text([&](task& t) { t.run_at = now + 60'001; }, tight).find("further away than fleet.max-delay (1m)")
        != std::string::npos);
  CHECK(text([&](task& t) { t.run_at = INT64_MAX; }).find("further away") != std::string::npos);
  CHECK(text([&](task& t) { t.delay_ms = INT64_MAX; }).find("longer than") != std::string::npos);
  CHECK(start_time(task{"a", "echo", "{}", 0, 0, 250}, now) == now + 250);
  CHECK(start_time(task{"a", "echo", "{}", 0, now + 9, 0}, now) == now + 9);
  CHECK(start_time(task{"a", "echo", "{}", 0}, now) == now);
}
