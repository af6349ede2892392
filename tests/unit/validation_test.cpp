#include "fleetd/error.hpp"
#include "fleet/validation.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

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
