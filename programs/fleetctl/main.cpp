// fleetctl: the command line for fleetd, itself a CAF node. `fleetctl --help` lists the commands.

#include "commands.hpp"

#include "fleetd/client.hpp"
#include "fleetd/error.hpp"
#include "fleetd/fleet_config.hpp"
#include "fleet/parse_number.hpp"
#include "fleet/queue_settings.hpp"
#include "fleet/time_text.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstdlib>
#include <string>

using namespace fleetctl;

namespace {

bool parse_number(const std::string& text, int64_t lo, int64_t hi, int64_t& out) {
  auto x = fleet::parse_integer(text);
  if (!x || *x < lo || *x > hi)
    return false;
  out = *x;
  return true;
}

} // namespace

int main(int argc, char** argv) {
  invocation inv;
  auto from_env = [](const char* name) {
    auto value = std::getenv(name);
    return value != nullptr ? std::string{value} : std::string{};
  };
  inv.tls = {from_env("FLEETCTL_TLS_CERT"), from_env("FLEETCTL_TLS_KEY"), from_env("FLEETCTL_TLS_CA"),
             from_env("FLEETCTL_TLS_SERVER_NAME")};
  bool help = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    // --name=value and --name value are both accepted for options with a value.
    auto value_of = [&](const std::string& name, std::string& out) {
      if (arg == name) {
        if (i + 1 >= argc)
          return false;
        out = argv[++i];
        return true;
      }
      if (arg.rfind(name + "=", 0) == 0) {
        out = arg.substr(name.size() + 1);
        return true;
      }
      return false;
    };
    std::string value;
    if (arg == "--help" || arg == "-h") {
      help = true;
    } else if (arg == "--json") {
      inv.json = true;
    } else if (arg == "--now") {
      inv.now = true;
    } else if (arg == "--no-overlap") {
      inv.no_overlap = true;
    } else if (arg == "--replace") {
      inv.replace = true;
    } else if (arg == "--dot") {
      inv.dot = true;
    } else if (arg == "--tasks") {
      inv.tasks = true;
    } else if (value_of("--cron", value)) {
      inv.cron = value;
    } else if (value_of("--tz", value)) {
      inv.tz = value;
    } else if (value_of("--every", value)) {
      auto ms = fleet::parse_duration_ms(value);
      if (!ms || *ms <= 0)
        return error(fmt::format("--every needs a duration such as 30s, 10m or 1h (got \"{}\")", value));
      inv.every_ms = *ms;
    } else if (value_of("--missed", value)) {
      if (value != "skip" && value != "once")
        return error(fmt::format("--missed is skip or once (got \"{}\")", value));
      inv.missed = value;
    } else if (arg == "--wait") {
      inv.wait = true;
    } else if (arg == "--fleet" || arg == "--all") {
      inv.whole_fleet = true;
    } else if (value_of("--batch", value)) {
      if (value.empty())
        return error("--batch needs a batch id");
      inv.batch = value;
    } else if (value_of("--key", value)) {
      if (value.empty())
        return error("--key needs a value");
      inv.key = value;
    } else if (value_of("--delay", value)) {
      auto ms = fleet::parse_duration_ms(value);
      if (!ms)
        return error(fmt::format("--delay needs a duration such as 30s, 10m, 2h or 1d (got \"{}\")", value));
      inv.delay_ms = *ms;
    } else if (value_of("--task-timeout", value)) {
      auto ms = fleet::parse_duration_ms(value);
      if (!ms || *ms < 1)
        return error(fmt::format("--task-timeout needs a duration such as 500ms, 30s or 2h (got \"{}\")", value));
      inv.policy.timeout_ms = *ms;
    } else if (value_of("--backoff", value)) {
      auto ms = fleet::parse_duration_ms(value);
      if (!ms)
        return error(fmt::format("--backoff needs a duration such as 0s, 500ms or 1m (got \"{}\")", value));
      inv.policy.backoff_ms = *ms;
    } else if (value_of("--max-retries", value)) {
      int64_t n = 0;
      if (!parse_number(value, 0, fleet::config_bounds::max_retries, n))
        return error(fmt::format("--max-retries must be between 0 and {} (got \"{}\")",
                                 fleet::config_bounds::max_retries, value));
      inv.policy.max_retries = static_cast<int32_t>(n);
    } else if (value_of("--queue", value)) {
      if (auto problem = fleet::queue_name_problem(value); !problem.empty())
        return error(fmt::format("--queue: {}", problem));
      inv.queue = value;
    } else if (value_of("--group", value)) {
      if (auto problem = fleet::group_problem(value); !problem.empty() || value.empty())
        return error(fmt::format("--group: {}", value.empty() ? "a group is not empty" : problem));
      inv.group = value;
    } else if (arg == "--no-retry") {
      inv.policy.retry = 0;
    } else if (value_of("--at", value)) {
      auto ms = fleet::parse_rfc3339_ms(value);
      if (!ms || *ms <= 0)
        return error(fmt::format("--at needs an RFC 3339 time such as 2026-12-24T18:00:00Z or "
                                 "2026-12-24T19:00:00+01:00 (got \"{}\")",
                                 value));
      inv.run_at = *ms;
    } else if (value_of("--host", value)) {
      if (value.empty())
        return error("--host needs an address");
      if (auto list = fleet::parse_endpoints(value, inv.port); !list)
        return error("--host: " + fleet::error_text(list.error()));
      inv.host = value;
    } else if (value_of("--port", value)) {
      int64_t port = 0;
      if (!parse_number(value, 1, 65535, port))
        return error(fmt::format("--port must be between 1 and 65535 (got \"{}\")", value));
      inv.port = static_cast<uint16_t>(port);
    } else if (value_of("--tls-cert", value)) {
      inv.tls.cert = value;
    } else if (value_of("--tls-key", value)) {
      inv.tls.key = value;
    } else if (value_of("--tls-ca", value)) {
      inv.tls.ca = value;
    } else if (value_of("--tls-server-name", value)) {
      inv.tls.server_name = value;
    } else if (value_of("--timeout", value)) {
      if (!parse_number(value, 1, 86'400'000, inv.timeout_ms))
        return error(fmt::format("--timeout must be a number of ms between 1 and 86400000 (got \"{}\")", value));
    } else if (arg.size() > 1 && arg[0] == '-' && !std::isdigit(static_cast<unsigned char>(arg[1]))) {
      return error(fmt::format("unknown option {} (see fleetctl --help)", arg));
    } else if (inv.command.empty()) {
      inv.command = arg;
    } else {
      inv.args.push_back(arg);
    }
  }
  if (inv.command == "help") {
    fmt::print("{}", usage(inv.args.empty() ? std::string{} : inv.args[0]));
    return exit_ok;
  }
  if (help) {
    fmt::print("{}", usage(inv.command));
    return exit_ok;
  }
  if (inv.command.empty()) {
    fmt::print(stderr, "{}", usage());
    return exit_error;
  }
  return run_command(inv);
}
