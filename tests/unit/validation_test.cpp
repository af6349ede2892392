#include "fleetd/error.hpp"
#include "fleetd/fleet_config.hpp"
#include "fleet/validation.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

using namespace fleet;

namespace {

caf::error only_echo(const task& t, const nlohmann::json&) {
  if (t.type != "echo")
    return caf::make_error(errc::unknown_task_type, "unknown task type \"" + t.type + "\"");
  return caf::none;
}

task echo(std::string id, std::string data = "{}") {
  return task{std::move(id), "echo", std::move(data), 0};
}

} // namespace

TEST_CASE("a valid batch passes") {
  CHECK_FALSE(validate_batch({echo("a"), echo("b", "[1,2]")}, only_echo));
}

TEST_CASE("each kind of bad batch gets its own error naming the task") {
  CHECK(validate_batch({}, only_echo) == errc::invalid_batch);
  auto dup = validate_batch({echo("a"), echo("b"), echo("a")}, only_echo);
  CHECK(dup == errc::duplicate_task_id);
  CHECK(error_text(dup) == "task 2 (id \"a\"): duplicate task id in this batch");
  CHECK(validate_batch({echo("")}, only_echo) == errc::invalid_task);
  CHECK(validate_batch({task{"a", "", "{}", 0}}, only_echo) == errc::invalid_task);
  CHECK(validate_batch({task{"a", "resize", "{}", 0}}, only_echo) == errc::unknown_task_type);
  CHECK(validate_batch({echo("a", "{\"x\":")}, only_echo) == errc::invalid_task);
  CHECK(validate_batch({echo(std::string(300, 'i'))}, only_echo) == errc::invalid_task);
  submit_limits small;
  small.max_data_bytes = 10;
  small.max_tasks_per_batch = 2;
  CHECK(validate_batch({echo("a", "\"0123456789\"")}, only_echo, small) == errc::oversize_data);
  CHECK(validate_batch({echo("a"), echo("b"), echo("c")}, only_echo, small) == errc::invalid_batch);
}

TEST_CASE("a task's policy is checked against the fleet's bounds, and contradictions are refused") {
  auto with = [](task_policy p) {
    auto t = echo("p");
    t.policy = p;
    return validate_batch({echo("a"), t}, only_echo);
  };
  CHECK_FALSE(with({}));
  CHECK_FALSE(with({1, 0, 0, 0}));
  CHECK_FALSE(with({config_bounds::max_duration_ms, config_bounds::max_retries, config_bounds::max_duration_ms, 1}));
  for (auto [p, expected] : std::vector<std::pair<task_policy, std::string>>{
         {{-5, -1, -1, -1}, "task 1 (id \"p\"): timeout_ms -5 is out of range"},
         {{config_bounds::max_duration_ms + 1, -1, -1, -1}, "timeout_ms 604800001 is out of range"},
         {{0, -2, -1, -1}, "max_retries -2 is out of range"},
         {{0, 1001, -1, -1}, "max_retries 1001 is out of range: between 0 and 1000"},
         {{0, -1, -7, -1}, "backoff_ms -7 is out of range"},
         {{0, -1, -1, 2}, "retry 2 is neither true nor false"},
         {{0, 3, -1, 0}, "retry is false but max_retries is 3: give one of them"},
         {{0, 0, -1, 1}, "retry is true but max_retries is 0"}}) {
    CAPTURE(expected);
    auto err = with(p);
    CHECK(err == errc::invalid_task);
    CHECK(error_text(err).find(expected) != std::string::npos);
  }
}

TEST_CASE("ids and types must be UTF-8: they end up in JSON") {
  CHECK_FALSE(validate_batch({echo("plain"), echo("\xc3\xa9t\xc3\xa9"), echo("\xf0\x9f\x9a\x80")}, only_echo));
  auto bad_id = validate_batch({echo("ok"), echo("caf\xe9")}, only_echo); // Latin-1, not UTF-8
  CHECK(bad_id == errc::invalid_task);
  CHECK(error_text(bad_id) == "task 1: id is not valid UTF-8"); // the bytes are not echoed
  for (std::string bad : {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\x80", "\xff"})
    CHECK_MESSAGE(validate_batch({echo("a" + bad)}, only_echo) == errc::invalid_task, bad.size());
  auto bad_type = validate_batch({task{"a", "ech\xff", "{}", 0}}, only_echo);
  CHECK(bad_type == errc::invalid_task);
  CHECK(error_text(bad_type).find("type is not valid UTF-8") != std::string::npos);
}
