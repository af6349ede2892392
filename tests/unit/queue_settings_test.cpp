#include "fleet/queue_settings.hpp"

#include "fleetd/error.hpp"
#include "fleet/task_file.hpp"

#include <caf/config_value.hpp>
#include <caf/settings.hpp>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace fleet;

TEST_CASE("rates read as N/INTERVAL, and everything else is refused with what a rate looks like") {
  CHECK(*parse_rate("100/1s") == std::pair<int32_t, int64_t>{100, 1000});
  CHECK(*parse_rate("5/250ms") == std::pair<int32_t, int64_t>{5, 250});
  CHECK(*parse_rate("1000/m") == std::pair<int32_t, int64_t>{1000, 60'000});
  CHECK(*parse_rate("none") == std::pair<int32_t, int64_t>{0, 0});
  for (auto bad : {"", "100", "/1s", "100/", "0/1s", "-1/1s", "100/0s", "100/2d", "1000001/1s", "1e3/1s",
                   "100/1x", "100/1s/2", "ten/1s"}) {
    CAPTURE(bad);
    auto r = parse_rate(bad);
    REQUIRE_FALSE(r);
    CHECK(error_text(r.error()).find("N/INTERVAL") != std::string::npos);
  }
  CHECK(rate_text(100, 1000) == "100/1s");
  CHECK(rate_text(0, 0) == "none");
  CHECK(*parse_rate(rate_text(7, 90'000)) == std::pair<int32_t, int64_t>{7, 90'000});
}

TEST_CASE("queue names are plain, groups are UTF-8 without control characters") {
  CHECK(queue_name_problem("default").empty());
  CHECK(queue_name_problem("mail.eu-1_b").empty());
  CHECK_FALSE(queue_name_problem("").empty());
  CHECK_FALSE(queue_name_problem(std::string(65, 'q')).empty());
  CHECK_FALSE(queue_name_problem("-x").empty());
  CHECK_FALSE(queue_name_problem("a b").empty());
  CHECK_FALSE(queue_name_problem("a/b").empty());
  CHECK_FALSE(queue_name_problem("caf\xc3\xa9").empty());
  CHECK(group_problem("").empty());
  CHECK(group_problem("customer \xc3\xa9 42").empty());
  CHECK_FALSE(group_problem("\xff").empty());
  CHECK_FALSE(group_problem("a\nb").empty());
  CHECK_FALSE(group_problem(std::string(257, 'g')).empty());
}

TEST_CASE("queue settings are range-checked by key, and a change sets only what it names") {
  queue_change c;
  REQUIRE_FALSE(apply_queue_setting("max-workers", "4", c));
  REQUIRE_FALSE(apply_queue_setting("rate", "10/1s", c));
  REQUIRE_FALSE(apply_queue_setting("paused", "true", c));
  CHECK(c.max_workers == 4);
  CHECK(c.rate_count == 10);
  CHECK(c.weight == -1);
  auto limits = apply(queue_limits{0, 0, 0, 7, 2, false}, c);
  CHECK(limits.max_workers == 4);
  CHECK(limits.rate_interval_ms == 1000);
  CHECK(limits.weight == 7);
  CHECK(limits.group_max_workers == 2);
  CHECK(limits.paused);
  REQUIRE_FALSE(apply_queue_setting("max-workers", "none", c));
  CHECK(c.max_workers == 0);
  for (auto [key, value] : std::vector<std::pair<const char*, const char*>>{
         {"max-workers", "-1"}, {"max-workers", "100001"}, {"max-workers", "4x"}, {"weight", "0"},
         {"weight", "1001"}, {"weight", "none"}, {"group-max-workers", "-3"}, {"paused", "yes"},
         {"rate", "fast"}, {"speed", "1"}}) {
    CAPTURE(key);
    CAPTURE(value);
    auto err = apply_queue_setting(key, value, c);
    REQUIRE(err);
    CHECK(err == errc::invalid_config);
  }
}

TEST_CASE("[queue.NAME] sections of the config file, with typed values, and errors naming section and key") {
  caf::settings group;
  caf::settings mail;
  mail["max-workers"] = caf::config_value{int64_t{4}};
  mail["rate"] = caf::config_value{std::string{"100/1s"}};
  mail["paused"] = caf::config_value{true};
  group["mail"] = caf::config_value{mail};
  std::map<std::string, queue_limits> out;
  REQUIRE_FALSE(read_queues(group, "fleet.conf", out));
  REQUIRE(out.count("mail") == 1);
  CHECK(out["mail"].max_workers == 4);
  CHECK(out["mail"].rate_count == 100);
  CHECK(out["mail"].paused);
  CHECK(out["mail"].weight == 1);
  caf::settings bad;
  caf::settings q;
  q["weight"] = caf::config_value{int64_t{0}};
  bad["q"] = caf::config_value{q};
  auto err = read_queues(bad, "fleet.conf", out);
  REQUIRE(err);
  CHECK(error_text(err).find("fleet.conf: queue.q.weight") != std::string::npos);
  caf::settings bad_name;
  bad_name["no way"] = caf::config_value{caf::settings{}};
  CHECK(read_queues(bad_name, "fleet.conf", out));
}

TEST_CASE("a task file names a task's queue and group, checked as a submit checks them") {
  auto tasks = parse_task_file(R"({"id": "a", "type": "echo", "queue": "mail", "group": "c-42"})", "f");
  REQUIRE(tasks);
  CHECK(tasks->at(0).queue == "mail");
  CHECK(tasks->at(0).group == "c-42");
  for (auto bad : {R"({"type": "echo", "queue": ""})", R"({"type": "echo", "queue": 3})",
                   R"({"type": "echo", "queue": "a b"})", R"({"type": "echo", "group": "a\u0001"})"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_task_file(bad, "f"));
  }
}
