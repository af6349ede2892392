#include "fleet/error.hpp"
#include "fleet/task_file.hpp"

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
  CHECK((*parsed)[0].data == R"({"x":[1,2]})");
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
  CHECK(error_of("{\"type\":\"echo\"}\n{\"type\": \"echo\",}\n").find("tasks.json line 2: invalid JSON") == 0);
  CHECK(error_of("[\n{\"type\":\"echo\"},\n{\"type\" \"echo\"}\n]").find("tasks.json line 3: invalid JSON") == 0);
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
