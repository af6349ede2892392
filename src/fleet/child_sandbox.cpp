#include "fleet/child_sandbox.hpp"

#include <fmt/format.h>

#include <cstdlib>

extern char** environ;

namespace fleet {

namespace {

std::optional<std::string> environment_value(const std::string& name) {
  if (const char* v = std::getenv(name.c_str()))
    return std::string{v};
  return std::nullopt;
}

} // namespace

std::vector<std::string> child_sandbox::environment(const std::map<std::string, std::string>& task_env) const {
  std::map<std::string, std::string> merged;
  if (inherit_env) {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string_view entry{*e};
      auto eq = entry.find('=');
      if (eq != std::string_view::npos)
        merged.emplace(std::string{entry.substr(0, eq)}, std::string{entry.substr(eq + 1)});
    }
  } else {
    merged["PATH"] = default_child_path;
  }
  // Another user's programs must not write into fleetd's home, inherited or not.
  if (resolved_user) {
    merged["HOME"] = resolved_user->home;
    merged["USER"] = resolved_user->name;
    merged["LOGNAME"] = resolved_user->name;
  }
  for (const auto& name : pass_env)
    if (auto value = environment_value(name))
      merged[name] = *value;
  for (const auto& [name, value] : env)
    merged[name] = value;
  for (const auto& [name, value] : task_env)
    merged[name] = value;
  std::vector<std::string> out;
  out.reserve(merged.size());
  for (const auto& [name, value] : merged)
    out.push_back(name + "=" + value);
  return out;
}

std::string child_sandbox::describe() const {
  std::string out = inherit_env ? "env: fleetd's" : "env: PATH";
  for (const auto& name : pass_env)
    out += " +" + name;
  for (const auto& [name, value] : env)
    out += " " + name + "=";
  if (!user.empty())
    out += ", user " + user;
  if (!cwd.empty())
    out += ", cwd " + cwd;
  if (max_memory_mib != 0)
    out += fmt::format(", max-memory {} MiB", max_memory_mib);
  if (max_files != 0)
    out += fmt::format(", max-files {}", max_files);
  if (max_cpu_seconds != 0)
    out += fmt::format(", max-cpu-seconds {}", max_cpu_seconds);
  return out;
}

} // namespace fleet
