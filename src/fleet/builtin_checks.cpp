#include "fleet/builtin_checks.hpp"

#include "fleet/error.hpp"
#include "fleet/fleet_config.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace fleet {

namespace {

using json = nlohmann::json;

caf::error invalid(const std::string& text) {
  return caf::make_error(errc::invalid_task, text);
}

/// A non-negative integer no bigger than `max` (unsigned JSON integers above int64 included).
bool is_count(const json& x, int64_t max) {
  if (x.is_number_unsigned())
    return x.get<uint64_t>() <= static_cast<uint64_t>(max);
  return x.is_number_integer() && x.get<int64_t>() >= 0 && x.get<int64_t>() <= max;
}

/// posix_spawn takes C strings: a NUL inside would silently cut the argument short.
bool c_string(const std::string& x) {
  return x.find('\0') == std::string::npos;
}

} // namespace

caf::error check_sleep_data(const json& data) {
  if (!data.is_object() || !data.contains("ms") || !is_count(data["ms"], config_bounds::max_duration_ms))
    return invalid(fmt::format("sleep needs {{\"ms\": N}} with 0 <= N <= {}", config_bounds::max_duration_ms));
  return caf::none;
}

caf::error check_fail_data(const json& data) {
  if (!data.is_object())
    return invalid("fail needs an object, e.g. {\"times\": 2}");
  if (data.contains("times") && !is_count(data["times"], INT32_MAX))
    return invalid("fail: \"times\" must be an integer from 0 to 2147483647");
  if (data.contains("error") && !data["error"].is_string())
    return invalid("fail: \"error\" must be a string");
  return caf::none;
}

caf::error check_exec_data(const json& data, const std::optional<std::vector<std::string>>& allow) {
  if (!data.is_object() || !data.contains("argv") || !data["argv"].is_array() || data["argv"].empty())
    return invalid("exec needs {\"argv\": [\"program\", \"arg\", ...]}");
  for (const auto& arg : data["argv"])
    if (!arg.is_string() || !c_string(arg.get<std::string>()))
      return invalid("exec: every argv element must be a string without NUL bytes");
  auto program = data["argv"][0].get<std::string>();
  if (program.empty())
    return invalid("exec: argv[0] must name a program");
  if (data.contains("timeout_ms") && !is_count(data["timeout_ms"], config_bounds::max_duration_ms))
    return invalid(fmt::format("exec: \"timeout_ms\" must be an integer from 0 to {}",
                               config_bounds::max_duration_ms));
  if (data.contains("env")) {
    if (!data["env"].is_object())
      return invalid("exec: \"env\" must be an object of strings");
    for (const auto& [name, value] : data["env"].items())
      if (name.empty() || name.find('=') != std::string::npos || !c_string(name) || !value.is_string()
          || !c_string(value.get<std::string>()))
        return invalid("exec: \"env\" must map variable names to strings (no \"=\" in names, no NUL bytes)");
  }
  if (!allow)
    return caf::none;
  if (std::find(allow->begin(), allow->end(), program) != allow->end())
    return caf::none;
  if (allow->empty())
    return invalid("exec is off: fleetd's fleet.exec-allow names no program");
  return invalid(fmt::format("exec: {} is not in fleetd's fleet.exec-allow", program));
}

} // namespace fleet
