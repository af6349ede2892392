#include "fleetd/error.hpp"
#include "fleetd/fleet_config.hpp"
#include "fleet/daemon_config.hpp"
#include "fleet/parse_number.hpp"
#include "load_options.hpp"

#include <caf/settings.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

using namespace fleet;

TEST_CASE("the defaults are the seed's and valid") {
  fleet_config cfg;
  CHECK(cfg.max_concurrent_workers == 10);
  CHECK(cfg.worker_timeout_ms == 300000);
  CHECK(cfg.retry_failed_tasks);
  CHECK(cfg.max_retries == 3);
  CHECK(cfg.backoff_base_ms == 1000);
  CHECK(cfg.backoff_factor == 2.0);
  CHECK(cfg.backoff_cap_ms == 30000);
  CHECK_FALSE(validate(cfg));
}

TEST_CASE("every field is range-checked and the error names it") {
  auto refused = [](config_update u, const char* field) {
    auto r = apply(fleet_config{}, u);
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::invalid_config);
    CHECK(error_text(r.error()).find(field) != std::string::npos);
  };
  config_update u;
  u.max_concurrent_workers = 0;
  refused(u, "worker count must be at least 1");
  u = {};
  u.worker_timeout_ms = -5;
  refused(u, "worker_timeout");
  u = {};
  u.max_retries = -1;
  refused(u, "max_retries");
  u = {};
  u.backoff_factor = 0.5;
  refused(u, "backoff_factor");
  u = {};
  u.backoff_cap_ms = 10;
  refused(u, "backoff_cap");
  CHECK(error_text(validate_worker_count(0)) == "worker count must be at least 1 (got 0)");
}

TEST_CASE("a partial update changes only the fields it sets") {
  config_update u;
  u.max_retries = 2;
  u.retry_failed_tasks = false;
  auto r = apply(fleet_config{}, u);
  REQUIRE(r);
  CHECK(r->max_retries == 2);
  CHECK_FALSE(r->retry_failed_tasks);
  CHECK(r->max_concurrent_workers == 10);
  CHECK(r->worker_timeout_ms == 300000);
}

TEST_CASE("settings are named by field or by config file option, with typed values") {
  config_update u;
  CHECK_FALSE(set_field_from_text(u, "max-workers=20"));
  CHECK_FALSE(set_field_from_text(u, "worker_timeout_ms=1500"));
  CHECK_FALSE(set_field_from_text(u, "retry-failed-tasks=false"));
  CHECK_FALSE(set_field_from_text(u, "backoff-factor=3"));
  CHECK(u.max_concurrent_workers == 20);
  CHECK(u.worker_timeout_ms == int64_t{1500});
  CHECK(u.retry_failed_tasks == false);
  CHECK(u.backoff_factor == 3.0);
  auto fields = set_fields(u);
  REQUIRE(fields.size() == 4);
  CHECK(std::string{fields[0].first.option} == "max-workers");
  auto unknown = set_field_from_text(u, "warp=1");
  CHECK(error_text(unknown).find("unknown setting \"warp\"") != std::string::npos);
  CHECK(set_field_from_text(u, "max-workers=lots"));
  CHECK(set_field_from_text(u, "max-workers=1.5"));
  CHECK(set_field_from_text(u, "retry-failed-tasks=1"));
  CHECK(set_field_from_text(u, "max-workers"));
  CHECK(set_field_from_text(u, "max-workers=99999999999"));
  auto value = get_field(fleet_config{}, "backoff-cap");
  REQUIRE(value);
  CHECK(to_string(*value) == "30000");
}

TEST_CASE("numbers typed by people parse whole or not at all") {
  CHECK(parse_integer("42") == int64_t{42});
  CHECK(parse_integer("-7") == int64_t{-7});
  CHECK_FALSE(parse_integer(""));
  CHECK_FALSE(parse_integer("12abc"));
  CHECK_FALSE(parse_integer("1.5"));
  CHECK_FALSE(parse_integer("99999999999999999999"));
  CHECK(parse_real("2.5") == 2.5);
  CHECK(parse_real("3") == 3.0);
  CHECK_FALSE(parse_real("x"));
  CHECK_FALSE(parse_real("1e999"));
}

namespace {

caf::error load_daemon_config(daemon_config& cfg, std::vector<std::string> args) {
  return test::load_from_args(cfg, "fleetd", std::move(args));
}

} // namespace

TEST_CASE("fleetd reads remote messages on CAF's middleman thread unless told otherwise") {
  auto workers = [](const daemon_config& cfg) { return caf::get_or(cfg.content, "middleman.workers", size_t{99}); };
  daemon_config plain;
  REQUIRE_FALSE(load_daemon_config(plain, {}));
  CHECK(workers(plain) == 0);
  daemon_config told;
  REQUIRE_FALSE(load_daemon_config(told, {"--middleman.workers=2"}));
  CHECK(workers(told) == 2);
}

TEST_CASE("fleetd runs a scheduler thread per core unless told otherwise") {
  auto threads = [](const daemon_config& cfg) { return caf::get_or(cfg.content, "scheduler.max-threads", size_t{0}); };
  daemon_config plain;
  REQUIRE_FALSE(load_daemon_config(plain, {}));
  CHECK(threads(plain) == std::max(1u, std::thread::hardware_concurrency()));
  daemon_config told;
  REQUIRE_FALSE(load_daemon_config(told, {"--scheduler.max-threads=6"}));
  CHECK(threads(told) == 6);
}

TEST_CASE("fleetd's idle scheduler threads wait at once and steal every 5 ms, unless told otherwise") {
  auto polls = [](const daemon_config& cfg) {
    return caf::get_or(cfg.content, "work-stealing.moderate-poll-attempts", size_t{500});
  };
  auto wait = [](const daemon_config& cfg) {
    return caf::get_or(cfg.content, "work-stealing.relaxed-sleep-duration", caf::timespan{0});
  };
  daemon_config plain;
  REQUIRE_FALSE(load_daemon_config(plain, {}));
  CHECK(polls(plain) == 0);
  CHECK(wait(plain) == std::chrono::milliseconds{5});
  daemon_config told;
  REQUIRE_FALSE(load_daemon_config(told, {"--work-stealing.moderate-poll-attempts=500",
                                          "--work-stealing.relaxed-sleep-duration=10ms"}));
  CHECK(polls(told) == 500);
  CHECK(wait(told) == std::chrono::milliseconds{10});
  daemon_config spinning;
  CHECK(error_text(load_daemon_config(spinning, {"--work-stealing.relaxed-sleep-duration=0ms"}))
        == "work-stealing.relaxed-sleep-duration must be above 0, e.g. 1ms");
}

TEST_CASE("fleetd refuses a scheduler without threads, or with absurdly many") {
  auto load = [](std::string arg) {
    daemon_config cfg;
    return load_daemon_config(cfg, {std::move(arg)});
  };
  CHECK(error_text(load("--scheduler.max-threads=0")) == "scheduler.max-threads must be between 1 and 1024 (got 0)");
  CHECK(error_text(load("--scheduler.max-threads=5000"))
        == "scheduler.max-threads must be between 1 and 1024 (got 5000)");
  CHECK_FALSE(load("--scheduler.max-threads=2"));
}

TEST_CASE("fleet.node-names is any or certificate, and certificate needs TLS") {
  auto load = [](std::vector<std::string> args) {
    daemon_config cfg;
    auto err = load_daemon_config(cfg, std::move(args));
    return std::make_pair(err, cfg.options.node_names);
  };
  CHECK(load({}).second == "any");
  CHECK(error_text(load({"--fleet.node-names=cn"}).first) == "fleet.node-names must be any or certificate (got \"cn\")");
  CHECK(error_text(load({"--fleet.node-names=certificate"}).first).find("needs TLS") != std::string::npos);
  auto tls = load({"--fleet.node-names=certificate", "--fleet.tls-cert=a.pem", "--fleet.tls-key=a.key",
                   "--fleet.tls-ca=ca.pem"});
  CHECK_FALSE(tls.first);
  CHECK(tls.second == "certificate");
}
