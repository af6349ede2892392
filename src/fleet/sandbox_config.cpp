#include "fleet/sandbox_config.hpp"

#include "fleet/strict_config.hpp"
#include "fleet/text.hpp"

#include <fmt/format.h>

#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace fleet {

namespace {

bool valid_variable_name(std::string_view name) {
  if (name.empty() || name.size() > 256 || std::isdigit(static_cast<unsigned char>(name[0])))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

caf::error limit(const caf::config_value& value, const std::string& what, uint64_t max, uint64_t& out) {
  auto n = caf::get_if<int64_t>(&value);
  if (!n || *n < 0 || static_cast<uint64_t>(*n) > max)
    return config_error(fmt::format("{} must be a whole number from 0 (no limit of its own) to {} (got {})", what,
                                    max, caf::to_string(value)));
  out = static_cast<uint64_t>(*n);
  return caf::none;
}

/// Looks `user` up as a name, or else as a number.
caf::expected<child_sandbox::account> find_account(const std::string& user, const std::string& where) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  auto rc = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
  if (found == nullptr) {
    uid_t uid = 0;
    auto [end, ec] = std::from_chars(user.data(), user.data() + user.size(), uid);
    if (ec == std::errc{} && end == user.data() + user.size())
      rc = ::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found);
  }
  if (found == nullptr)
    return config_error(fmt::format("{}.user: there is no user {} on this machine{}", where, quoted_input(user),
                                    rc != 0 ? fmt::format(" ({})", std::strerror(rc)) : std::string{}));
  child_sandbox::account out;
  out.uid = pw.pw_uid;
  out.gid = pw.pw_gid;
  out.name = pw.pw_name;
  out.home = pw.pw_dir;
  int count = 64;
  out.groups.resize(static_cast<size_t>(count));
  if (::getgrouplist(pw.pw_name, pw.pw_gid, out.groups.data(), &count) < 0) {
    out.groups.resize(static_cast<size_t>(count));
    ::getgrouplist(pw.pw_name, pw.pw_gid, out.groups.data(), &count);
  }
  out.groups.resize(static_cast<size_t>(std::max(count, 0)));
  return out;
}

/// `wanted` and the limit are shown divided by `unit` (1 MiB for max-memory).
caf::error check_limit(int resource, uint64_t wanted, const char* key, const std::string& where,
                       uint64_t unit = 1) {
  if (wanted == 0 || ::geteuid() == 0)
    return caf::none;
  rlimit current{};
  if (::getrlimit(resource, &current) == 0 && current.rlim_max != RLIM_INFINITY && wanted > current.rlim_max)
    return config_error(fmt::format("{}.{}: {} is more than fleetd's own hard limit ({}), which only root may raise",
                                    where, key, wanted / unit, current.rlim_max / unit));
  return caf::none;
}

} // namespace

caf::error read_sandbox_key(const std::string& key, const caf::config_value& value, const std::string& what,
                            child_sandbox& out, bool& known) {
  known = true;
  if (key == "env") {
    std::vector<std::string> entries;
    if (auto err = string_list(value, what, "[\"LANG=C.UTF-8\", \"TMPDIR=/var/tmp\"]", entries))
      return err;
    out.env.clear();
    for (const auto& entry : entries) {
      auto eq = entry.find('=');
      auto name = entry.substr(0, eq);
      if (eq == std::string::npos || !valid_variable_name(name))
        return config_error(fmt::format("{}: {} is not NAME=VALUE with a NAME of A-Z a-z 0-9 _", what,
                                        quoted_input(entry)));
      if (!is_utf8(entry))
        return config_error(fmt::format("{}: {} is not UTF-8 text", what, quoted_input(entry)));
      out.env[name] = entry.substr(eq + 1);
    }
    return caf::none;
  }
  if (key == "pass-env") {
    if (auto err = string_list(value, what, "[\"HOME\", \"LANG\", \"TZ\"]", out.pass_env))
      return err;
    for (const auto& name : out.pass_env)
      if (!valid_variable_name(name))
        return config_error(fmt::format("{}: {} is not a variable name (A-Z a-z 0-9 _)", what, quoted_input(name)));
    return caf::none;
  }
  if (key == "inherit-env") {
    auto b = caf::get_if<bool>(&value);
    if (!b)
      return config_error(fmt::format("{} must be true or false (got {})", what, caf::to_string(value)));
    out.inherit_env = *b;
    return caf::none;
  }
  if (key == "user" || key == "cwd") {
    auto s = caf::get_if<std::string>(&value);
    if (!s)
      return config_error(fmt::format("{} must be a string (got {})", what, caf::to_string(value)));
    (key == "user" ? out.user : out.cwd) = *s;
    return caf::none;
  }
  if (key == "max-memory")
    return limit(value, what, uint64_t{1} << 30, out.max_memory_mib); // MiB: up to 1 PiB
  if (key == "max-files")
    return limit(value, what, uint64_t{1} << 20, out.max_files);
  if (key == "max-cpu-seconds")
    return limit(value, what, uint64_t{365} * 24 * 3600, out.max_cpu_seconds);
  known = false;
  return caf::none;
}

caf::error read_sandbox(const caf::settings& section, const std::string& where, const std::string& name,
                        child_sandbox& out) {
  for (const auto& [key, value] : section) {
    bool known = false;
    if (auto err = read_sandbox_key(key, value, fmt::format("{}: {}.{}", where, name, key), out, known))
      return err;
    if (!known)
      return config_error(fmt::format("{}: unknown option {}.{} (known: {})", where, name, key, sandbox_keys));
  }
  return caf::none;
}

caf::error resolve(child_sandbox& sandbox, const std::string& where) {
  sandbox.resolved_user.reset();
  if (!sandbox.user.empty()) {
    auto found = find_account(sandbox.user, where);
    if (!found)
      return found.error();
    if (::geteuid() != 0 && found->uid != ::geteuid())
      return config_error(fmt::format("{}.user: fleetd runs as uid {} and only root may start programs as {} "
                                      "(uid {})", where, ::geteuid(), found->name, found->uid));
    sandbox.resolved_user = std::move(*found);
  }
  if (!sandbox.cwd.empty()) {
    struct stat st {};
    if (sandbox.cwd.front() != '/')
      return config_error(fmt::format("{}.cwd must be an absolute path (got {})", where, quoted_input(sandbox.cwd)));
    if (::stat(sandbox.cwd.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return config_error(fmt::format("{}.cwd: {} is not a directory", where, quoted_input(sandbox.cwd)));
  }
  if (auto err = check_limit(RLIMIT_NOFILE, sandbox.max_files, "max-files", where))
    return err;
  if (auto err = check_limit(RLIMIT_CPU, sandbox.max_cpu_seconds == 0 ? 0 : sandbox.max_cpu_seconds + 1, "max-cpu-seconds", where))
    return err;
  if (auto err = check_limit(RLIMIT_AS, static_cast<uint64_t>(sandbox.max_memory_mib) << 20, "max-memory", where,
                             uint64_t{1} << 20))
    return err;
  if (sandbox.max_memory_mib > 0 && sandbox.max_memory_mib < 16)
    return config_error(fmt::format("{}.max-memory: {} MiB is too little for any program to start (at least 16)",
                                    where, sandbox.max_memory_mib));
  if (sandbox.max_files > 0 && sandbox.max_files < 8)
    return config_error(fmt::format("{}.max-files: {} is too few for a program to start (at least 8)", where,
                                    sandbox.max_files));
  return caf::none;
}

} // namespace fleet
