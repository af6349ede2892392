#include "fleet/event_kind.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <string>

using namespace fleet;

TEST_CASE("every event kind has its own text, and the schema documents each one") {
  std::string schema;
  for (const char* file : {"/schema/0001_init.sql", "/schema/0003_retention.sql", "/schema/0004_schedules.sql",
                           "/schema/0006_dependencies.sql", "/schema/0007_queues.sql",
                           "/schema/0009_orphans.sql", "/schema/0010_runs.sql", "/schema/0011_requested_by.sql",
                           "/schema/0012_clock_steps.sql"}) {
    std::ifstream in{std::string{FLEET_SOURCE_DIR} + file};
    REQUIRE(in);
    schema.append(std::istreambuf_iterator<char>{in}, {});
  }
  std::set<std::string_view> texts;
  for (auto kind : all_event_kinds) {
    auto text = to_string(kind);
    CAPTURE(text);
    CHECK(texts.insert(text).second);
    CHECK(text != "unknown");
    CHECK(schema.find("--   " + std::string{text} + " ") != std::string::npos);
  }
  CHECK(texts.size() == static_cast<size_t>(event_kind::clock_stepped) + 1);
}

TEST_CASE("an attempt's end names its event, and a success writes none") {
  CHECK_FALSE(event_of(task_disposition::succeeded));
  CHECK(event_of(task_disposition::failed) == event_kind::task_failed);
  CHECK(event_of(task_disposition::retry) == event_kind::task_retry_scheduled);
  CHECK(event_of(task_disposition::cancelled) == event_kind::task_cancelled);
  CHECK(event_of(task_disposition::requeue) == event_kind::attempt_interrupted);
}
