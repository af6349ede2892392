#include "fleet/daemon_config.hpp"

#include "fleet/autoscale.hpp"
#include "fleet/error.hpp"
#include "fleet/parse_number.hpp"
#include "fleet/store.hpp"

#include <caf/config_option_adder.hpp>
#include <caf/config_value.hpp>
#include <caf/settings.hpp>
#include <fmt/format.h>
#include <spdlog/common.h>

#include <algorithm>
#include <map>
#include <regex>
#include <sstream>
#include <vector>

namespace fleet {

namespace {

enum class value_kind { integer, real, boolean, text };

struct option_spec {
  const char* name;
  value_kind kind;
  const char* help;
};

// The `[fleet]` options. Names are fixed by the public interface (issue 3).
const std::vector<option_spec>& fleet_options() {
  static const std::vector<option_spec> specs{
    {"db", value_kind::text, "SQLite database file; its directory is created (default var/fleet.db)"},
    {"host", value_kind::text, "address to listen on (default 127.0.0.1, loopback only)"},
    {"port", value_kind::integer, "TCP port for CAF nodes and fleetctl; 0 picks a free one (default 4242)"},
    {"max-workers", value_kind::integer, "max_concurrent_workers, fleet-wide (default 10)"},
    {"worker-timeout", value_kind::integer, "worker_timeout in ms per attempt (default 300000)"},
    {"retry-failed-tasks", value_kind::boolean, "retry failed attempts: true|false (default true)"},
    {"max-retries", value_kind::integer, "retries after the first attempt (default 3)"},
    {"backoff-base", value_kind::integer, "first retry delay in ms (default 1000)"},
    {"backoff-factor", value_kind::real, "delay multiplier per retry (default 2)"},
    {"backoff-cap", value_kind::integer, "longest retry delay in ms (default 30000)"},
    {"synchronous", value_kind::text, "SQLite synchronous mode: off|normal|full (default full)"},
    {"max-db-size", value_kind::integer, "largest database file in MiB; beyond it fleetd reports the database full and takes no new work (default 0: no limit)"},
    {"drain-timeout", value_kind::integer, "ms that running attempts get to finish on SIGTERM (default 30000)"},
    {"log-level", value_kind::text, "trace|debug|info|warn|error|off (default info)"},
    {"commit-batch", value_kind::integer, "group commit: commit at once when this many changes wait (default 512)"},
    {"commit-delay", value_kind::integer, "group commit: ms a change waits for others; 0 commits when the mailbox is empty (default 1)"},
    {"max-batch-tasks", value_kind::integer, "most tasks in one batch (default 10000000)"},
    {"max-task-data", value_kind::integer, "most bytes of JSON data in one task (default 1048576)"},
    {"max-id-length", value_kind::integer, "most bytes in a task id (default 256)"},
    {"max-pending-batches", value_kind::integer, "most unfinished batches; further submits are refused (default 10000)"},
    {"tls-cert", value_kind::text, "PEM certificate (chain) fleetd presents to clients; with tls-key and tls-ca: TLS with mutual authentication"},
    {"tls-key", value_kind::text, "PEM private key of tls-cert (no passphrase)"},
    {"tls-ca", value_kind::text, "PEM certificate of the CA that signs the clients fleetd accepts"},
    {"plaintext-loopback", value_kind::boolean, "accept plain TCP when host is a loopback address and no TLS is set (default false)"},
    {"autoscale", value_kind::boolean, "move max-workers with the backlog, between autoscale-min and autoscale-max (default false)"},
    {"autoscale-min", value_kind::integer, "autoscaling: fewest workers (default 1)"},
    {"autoscale-max", value_kind::integer, "autoscaling: most workers (default 100)"},
    {"autoscale-up-ratio", value_kind::real, "autoscaling: double the limit while more than this many tasks wait per running one (default 2)"},
    {"autoscale-idle", value_kind::integer, "autoscaling: halve the limit after this many ms idle (default 60000)"},
    {"exec-allow", value_kind::text, "programs `exec` tasks may run, comma-separated argv[0] values; empty: no exec (default \"\")"},
  };
  return specs;
}

const option_spec* find_option(const std::string& name) {
  for (const auto& spec : fleet_options())
    if (name == spec.name)
      return &spec;
  return nullptr;
}

const char* kind_name(value_kind k) {
  switch (k) {
    case value_kind::integer: return "an integer";
    case value_kind::real: return "a number";
    case value_kind::boolean: return "true or false";
    case value_kind::text: return "a quoted string";
  }
  return "a value";
}

caf::error config_error(std::string text) {
  return caf::make_error(errc::invalid_config, std::move(text));
}

/// "a, b,,c " -> {"a", "b", "c"}.
std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(',', start);
    if (end == std::string::npos)
      end = text.size();
    auto item = text.substr(start, end - start);
    auto first = item.find_first_not_of(" \t");
    auto last = item.find_last_not_of(" \t");
    if (first != std::string::npos)
      out.push_back(item.substr(first, last - first + 1));
    start = end + 1;
  }
  return out;
}

std::string known_options() {
  std::string out;
  for (const auto& spec : fleet_options())
    out += (out.empty() ? "" : ", ") + std::string{spec.name};
  return out;
}

// A value from the command line, where everything is text.
caf::expected<caf::config_value> parse_cli_value(const option_spec& spec, const std::string& text) {
  auto bad = [&] {
    return config_error(fmt::format("--fleet.{} must be {} (got \"{}\")", spec.name,
                                    spec.kind == value_kind::text ? "text" : kind_name(spec.kind), text));
  };
  switch (spec.kind) {
    case value_kind::text:
      return caf::config_value{text};
    case value_kind::boolean:
      if (text == "true")
        return caf::config_value{true};
      if (text == "false")
        return caf::config_value{false};
      return bad();
    case value_kind::integer:
      if (auto x = parse_integer(text))
        return caf::config_value{*x};
      return bad();
    case value_kind::real:
      if (auto x = parse_real(text))
        return caf::config_value{*x};
      return bad();
  }
  return bad();
}

// Checks a value from the file against its option's kind; integers are accepted for reals.
caf::error check_kind(const option_spec& spec, const caf::config_value& value, const std::string& where) {
  bool ok = false;
  switch (spec.kind) {
    case value_kind::integer: ok = caf::holds_alternative<int64_t>(value); break;
    case value_kind::real:
      ok = caf::holds_alternative<double>(value) || caf::holds_alternative<int64_t>(value);
      break;
    case value_kind::boolean: ok = caf::holds_alternative<bool>(value); break;
    case value_kind::text: ok = caf::holds_alternative<std::string>(value); break;
  }
  if (ok)
    return caf::none;
  return config_error(fmt::format("{}: fleet.{} must be {} (got {})", where, spec.name,
                                  kind_name(spec.kind), caf::to_string(value)));
}

struct fleet_values {
  std::map<std::string, caf::config_value> by_name;

  caf::error take(const std::string& name, const caf::config_value& value, const std::string& where) {
    auto spec = find_option(name);
    if (!spec)
      return config_error(fmt::format("{}: unknown option fleet.{} (known: {})", where, name, known_options()));
    if (auto err = check_kind(*spec, value, where))
      return err;
    by_name[name] = value;
    return caf::none;
  }
};

/// CAF's parser errors read `parser_error(unexpected_character, ({"column" = 5, "line" = 2}))`:
/// keep the kind and the position, drop the wrapping.
std::string render_caf_error(const caf::error& err) {
  auto text = caf::to_string(err);
  std::smatch m;
  static const std::regex kind{R"re(^parser_error\((\w+))re"};
  static const std::regex column{R"re("column" = (\d+))re"};
  static const std::regex line{R"re("line" = (\d+))re"};
  static const std::regex argument{R"re("argument" = "([^"]*)")re"};
  if (!std::regex_search(text, m, kind))
    return text;
  auto out = m[1].str();
  std::replace(out.begin(), out.end(), '_', ' ');
  if (std::regex_search(text, m, argument))
    return fmt::format("{} in {}", out, m[1].str());
  std::string where;
  if (std::regex_search(text, m, line))
    where = "line " + m[1].str();
  if (std::regex_search(text, m, column))
    where += (where.empty() ? "column " : ", column ") + m[1].str();
  return where.empty() ? out : fmt::format("{}: {}", where, out);
}

caf::error range(const char* option, int64_t value, int64_t lo, int64_t hi, const char* unit = "") {
  if (value >= lo && value <= hi)
    return caf::none;
  return config_error(fmt::format("fleet.{} must be between {} and {}{} (got {})", option, lo, hi, unit, value));
}

/// Reads `path` once: every section's keys and types are checked (CAF 0.17 would silently keep
/// defaults for unknown keys and wrong types), and the `[fleet]` values are collected into `out`.
caf::error read_config_file(const std::string& path, const caf::config_option_set& caf_options,
                            fleet_values& out) {
  auto raw = caf::actor_system_config::parse_config_file(path.c_str());
  if (!raw) {
    if (raw.error() == caf::sec::cannot_open_file)
      return config_error(fmt::format("cannot read config file {}", path));
    return config_error(fmt::format("{} {} (strings must be quoted)", path,
                                    render_caf_error(raw.error())));
  }
  for (const auto& [section, content] : *raw) {
    auto entries = caf::get_if<caf::settings>(&content);
    if (!entries)
      return config_error(fmt::format("{}: {} is outside of a [section]", path, section));
    for (const auto& [key, value] : *entries) {
      if (section == "fleet") {
        if (auto err = out.take(key, value, path))
          return err;
        continue;
      }
      auto opt = caf_options.qualified_name_lookup(section, key);
      if (!opt)
        return config_error(fmt::format("{}: unknown option {}.{}", path, section, key));
      if (auto err = opt->check(value))
        return config_error(fmt::format("{}: {}.{} must be of type {} (got {})", path, section, key,
                                        std::string{opt->type_name().data(), opt->type_name().size()},
                                        caf::to_string(value)));
    }
  }
  return caf::none;
}

} // namespace

daemon_config::daemon_config() {
  // Declared so that CAF's --long-help and --dump-config list them; values are checked by `load_options`.
  caf::config_option_adder group{custom_options_, "fleet"};
  for (const auto& spec : fleet_options()) {
    switch (spec.kind) {
      case value_kind::integer: group.add<int64_t>(spec.name, spec.help); break;
      case value_kind::real: group.add<double>(spec.name, spec.help); break;
      case value_kind::boolean: group.add<bool>(spec.name, spec.help); break;
      case value_kind::text: group.add<std::string>(spec.name, spec.help); break;
    }
  }
}

std::string daemon_config::help_text() const {
  std::string out = "usage: fleetd [--config-file=FILE] [--fleet.NAME=VALUE]...\n\n"
                    "Runs the fleet manager and publishes it for CAF nodes and fleetctl.\n"
                    "Options (section [fleet] in the config file, --fleet.NAME=VALUE on the command line,\n"
                    "which wins over the file):\n";
  for (const auto& spec : fleet_options())
    out += fmt::format("  --fleet.{:<20} {}\n", spec.name, spec.help);
  out += "\nCAF's own options: --long-help. Settings changed at runtime (fleetctl scale, config set)\n"
         "are stored in the database and win over these on restart.\n";
  return out;
}

caf::error daemon_config::load_options(int argc, char** argv) {
  std::vector<std::string> caf_args;
  std::vector<std::pair<std::string, std::string>> overrides; // --fleet.NAME=VALUE, in order
  std::string file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_requested = true;
      return caf::none;
    }
    if (arg.rfind("--fleet.", 0) == 0) {
      auto body = arg.substr(8);
      auto eq = body.find('=');
      auto name = body.substr(0, eq);
      auto spec = find_option(name);
      if (!spec)
        return config_error(fmt::format("unknown option --fleet.{} (known: {})", name, known_options()));
      if (eq == std::string::npos) {
        if (spec->kind != value_kind::boolean)
          return config_error(fmt::format("--fleet.{} needs a value: --fleet.{}=VALUE", name, name));
        overrides.emplace_back(name, "true");
      } else {
        overrides.emplace_back(name, body.substr(eq + 1));
      }
      continue;
    }
    if (arg.rfind("--config-file=", 0) == 0)
      file = arg.substr(14);
    else if (arg == "--config-file")
      return config_error("--config-file needs a value: --config-file=FILE");
    caf_args.push_back(std::move(arg));
  }
  fleet_values values;
  if (!file.empty()) {
    if (auto err = read_config_file(file, custom_options_, values))
      return err;
    source = file;
  }
  for (const auto& [name, text] : overrides) {
    auto value = parse_cli_value(*find_option(name), text);
    if (!value)
      return value.error();
    values.by_name[name] = std::move(*value);
  }
  if (!overrides.empty())
    source += " with command-line overrides";
  // CAF reads its own sections of the file and its own command-line options. Without a file,
  // it gets an empty one rather than looking for caf-application.ini.
  std::istringstream empty;
  auto err = file.empty() ? parse(caf_args, empty) : parse(caf_args);
  if (err)
    return config_error(fmt::format("bad command line or config file: {} (see --help)", render_caf_error(err)));
  if (cli_helptext_printed) {
    help_requested = true;
    return caf::none;
  }
  auto& v = values.by_name;
  auto text = [&](const char* n, std::string& out) {
    if (auto i = v.find(n); i != v.end())
      out = caf::get<std::string>(i->second);
  };
  auto integer = [&](const char* n, int64_t& out) {
    if (auto i = v.find(n); i != v.end())
      out = caf::get<int64_t>(i->second);
  };
  auto boolean = [&](const char* n, bool& out) {
    if (auto i = v.find(n); i != v.end())
      out = caf::get<bool>(i->second);
  };
  auto real = [&](const char* n, double& out) { // an integer is a real too
    if (auto i = v.find(n); i != v.end())
      out = caf::holds_alternative<double>(i->second) ? caf::get<double>(i->second)
                                                      : static_cast<double>(caf::get<int64_t>(i->second));
  };
  text("db", options.db);
  text("host", options.host);
  integer("port", options.port);
  text("synchronous", options.synchronous);
  integer("drain-timeout", options.drain_timeout_ms);
  integer("max-db-size", options.max_db_size_mib);
  integer("commit-batch", options.commit_batch);
  integer("commit-delay", options.commit_delay_ms);
  text("log-level", options.log_level);
  integer("max-batch-tasks", max_batch_tasks_);
  integer("max-task-data", max_task_data_);
  integer("max-id-length", max_id_length_);
  integer("max-pending-batches", options.limits.max_pending_batches);
  text("tls-cert", options.tls_cert);
  text("tls-key", options.tls_key);
  text("tls-ca", options.tls_ca);
  boolean("plaintext-loopback", options.plaintext_loopback);
  auto& scaling = options.autoscale;
  boolean("autoscale", scaling.enabled);
  integer("autoscale-min", autoscale_min_);
  integer("autoscale-max", autoscale_max_);
  integer("autoscale-idle", scaling.idle_ms);
  real("autoscale-up-ratio", scaling.up_ratio);
  std::string exec_allow;
  text("exec-allow", exec_allow);
  options.exec_allow = split_list(exec_allow);
  integer("max-workers", max_workers_);
  integer("worker-timeout", worker_timeout_ms_);
  integer("max-retries", max_retries_);
  integer("backoff-base", backoff_base_ms_);
  integer("backoff-cap", backoff_cap_ms_);
  boolean("retry-failed-tasks", retry_failed_tasks_);
  real("backoff-factor", backoff_factor_);
  if (auto err = check_ranges())
    return err;
  scaling.min_workers = static_cast<int32_t>(autoscale_min_);
  scaling.max_workers = static_cast<int32_t>(autoscale_max_);
  if (auto err = validate(scaling))
    return config_error("fleet." + error_text(err));
  options.limits.max_tasks_per_batch = static_cast<size_t>(max_batch_tasks_);
  options.limits.max_data_bytes = static_cast<size_t>(max_task_data_);
  options.limits.max_id_bytes = static_cast<size_t>(max_id_length_);
  auto& f = options.fleet;
  f.max_concurrent_workers = static_cast<int32_t>(max_workers_);
  f.worker_timeout_ms = worker_timeout_ms_;
  f.retry_failed_tasks = retry_failed_tasks_;
  f.max_retries = static_cast<int32_t>(max_retries_);
  f.backoff_base_ms = backoff_base_ms_;
  f.backoff_factor = backoff_factor_;
  f.backoff_cap_ms = backoff_cap_ms_;
  if (auto err = validate(f))
    return config_error("fleet." + error_text(err));
  return caf::none;
}

caf::error daemon_config::check_ranges() const {
  constexpr auto week_ms = config_bounds::max_duration_ms;
  if (options.db.empty())
    return config_error("fleet.db must name a file");
  if (options.host.empty())
    return config_error("fleet.host must name an address, e.g. 127.0.0.1");
  if (auto err = validate_synchronous(options.synchronous))
    return config_error("fleet." + error_text(err));
  if (spdlog::level::from_str(options.log_level) == spdlog::level::off && options.log_level != "off")
    return config_error(fmt::format("fleet.log-level must be trace, debug, info, warn, error or off (got \"{}\")",
                                    options.log_level));
  if (auto err = range("port", options.port, 0, 65535))
    return err;
  if (auto err = range("max-db-size", options.max_db_size_mib, 0, int64_t{1} << 24, " MiB"))
    return err;
  if (auto err = range("drain-timeout", options.drain_timeout_ms, 0, week_ms, " ms"))
    return err;
  if (auto err = range("commit-batch", options.commit_batch, 1, 1'000'000))
    return err;
  if (auto err = range("commit-delay", options.commit_delay_ms, 0, 1000, " ms"))
    return err;
  if (auto err = range("max-batch-tasks", max_batch_tasks_, 1, 100'000'000))
    return err;
  if (auto err = range("max-task-data", max_task_data_, 2, int64_t{64} << 20, " bytes"))
    return err;
  if (auto err = range("max-id-length", max_id_length_, 1, 4096, " bytes"))
    return err;
  if (auto err = range("max-pending-batches", options.limits.max_pending_batches, 1, 10'000'000))
    return err;
  for (const auto& program : options.exec_allow)
    if (program.find_first_of(" \t") != std::string::npos)
      return config_error(fmt::format("fleet.exec-allow names programs separated by commas, without "
                                      "arguments (got \"{}\")", program));
  if (auto err = range("autoscale-min", autoscale_min_, 1, config_bounds::max_workers))
    return err;
  if (auto err = range("autoscale-max", autoscale_max_, autoscale_min_, config_bounds::max_workers,
                       " (at least autoscale-min)"))
    return err;
  if (auto err = range("max-workers", max_workers_, 1, config_bounds::max_workers))
    return err;
  if (auto err = range("worker-timeout", worker_timeout_ms_, 1, week_ms, " ms"))
    return err;
  if (auto err = range("max-retries", max_retries_, 0, config_bounds::max_retries))
    return err;
  if (auto err = range("backoff-base", backoff_base_ms_, 0, week_ms, " ms"))
    return err;
  if (auto err = range("backoff-cap", backoff_cap_ms_, backoff_base_ms_, week_ms, " ms (at least backoff-base)"))
    return err;
  if (!(backoff_factor_ >= config_bounds::min_backoff_factor
        && backoff_factor_ <= config_bounds::max_backoff_factor))
    return config_error(fmt::format("fleet.backoff-factor must be between {} and {} (got {})",
                                    config_bounds::min_backoff_factor,
                                    config_bounds::max_backoff_factor, backoff_factor_));
  return caf::none;
}

} // namespace fleet
