#include "fleet/builtin_checks.hpp"

#include "fleetd/error.hpp"
#include "fleetd/fleet_config.hpp"
#include "fleet/text.hpp"

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

bool changes_what_runs(const std::string& name) {
  // Prefixes: the loader (LD_, DYLD_), glibc's own (GLIBC_TUNABLES, GCONV_PATH, MALLOC_*),
  // exported shell functions (BASH_FUNC_name%%), interpreters' module paths and options.
  static const char* const prefixes[] = {"LD_",     "DYLD_", "GLIBC_", "GCONV_", "MALLOC_", "BASH_FUNC_",
                                         "PYTHON",  "PERL",  "RUBY",   "NODE_",  "JAVA_",   "_JAVA_",
                                         "JDK_JAVA_", "LUA_", "GIT_"};
  // glibc's UNSECURE_ENVVARS (what it drops for set-user-ID programs), shells' start-up files
  // and word splitting, where programs and their configuration are looked up.
  static const char* const names[] = {
    "GETCONF_DIR", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH",   "NIS_PATH",   "NLSPATH",   "RESOLV_HOST_CONF",
    "RES_OPTIONS", "TMPDIR",      "TZDIR",       "PATH",      "HOME",       "BASH_ENV",  "ENV",
    "SHELLOPTS",   "BASHOPTS",    "PS4",         "IFS",       "CDPATH",     "CLASSPATH", "OPENSSL_CONF",
    "OPENSSL_ENGINES", "OPENSSL_MODULES", "TCLLIBPATH", "XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "EDITOR",
    "VISUAL",      "PAGER",       "SSH_ASKPASS"};
  for (const char* prefix : prefixes)
    if (name.rfind(prefix, 0) == 0)
      return true;
  for (const char* n : names)
    if (name == n)
      return true;
  return false;
}

caf::error check_exec_data(const json& data, const std::optional<std::vector<std::string>>& allow,
                           const std::vector<std::string>& env_allow) {
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
    for (const auto& [name, value] : data["env"].items())
      if (changes_what_runs(name) && std::find(env_allow.begin(), env_allow.end(), name) == env_allow.end())
        return invalid(fmt::format("exec: a task may not set {} in \"env\": it can make an allowed program run "
                                   "other code (an operator may allow it with fleet.exec-env-allow)",
                                   printable(name, 64)));
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
