#include "fleet/pool_spec.hpp"

#include "fleet/strict_config.hpp"
#include "fleet/text.hpp"

#include <caf/config_value.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace fleet {

namespace {

bool valid_pool_name(const std::string& name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_'
           || c == '-';
  });
}

} // namespace

caf::error read_pools(const caf::settings& pools, const std::string& where, std::vector<pool_spec>& out) {
  for (const auto& [name, content] : pools) {
    auto entries = caf::get_if<caf::settings>(&content);
    if (!entries)
      return config_error(fmt::format("{}: pool.{} must be a section [pool.{}]", where, name, name));
    pool_spec spec;
    spec.name = name;
    for (const auto& [key, value] : *entries) {
      auto what = fmt::format("{}: pool.{}.{}", where, name, key);
      if (key == "argv") {
        if (auto err = string_list(value, what, "[\"python3\", \"worker.py\"]", spec.argv))
          return err;
      } else if (key == "types") {
        if (auto err = string_list(value, what, "[\"thumbnail\", \"exif\"]", spec.types))
          return err;
      } else if (key == "size") {
        auto n = caf::get_if<int64_t>(&value);
        if (!n || *n < 1 || *n > 1000)
          return config_error(fmt::format("{} must be a whole number from 1 to 1000 (got {})", what,
                                          caf::to_string(value)));
        spec.size = static_cast<int32_t>(*n);
      } else if (key == "in-flight") {
        auto n = caf::get_if<int64_t>(&value);
        if (!n || *n < 1 || *n > 64)
          return config_error(fmt::format("{} must be a whole number from 1 to 64 (got {})", what,
                                          caf::to_string(value)));
        spec.in_flight = static_cast<int32_t>(*n);
      } else {
        bool known = false;
        if (auto err = read_sandbox_key(key, value, what, spec.sandbox, known))
          return err;
        if (!known)
          return config_error(fmt::format("{}: unknown option pool.{}.{} (known: argv, types, size, in-flight, {})",
                                          where, name, key, sandbox_keys));
      }
    }
    out.push_back(std::move(spec));
  }
  return caf::none;
}

caf::error validate(const std::vector<pool_spec>& pools) {
  std::set<std::string> seen;
  for (const auto& p : pools) {
    if (!valid_pool_name(p.name))
      return config_error(fmt::format("a pool name has 1 to 64 characters of A-Z a-z 0-9 . _ - (got {})",
                                      quoted_input(p.name)));
    if (p.argv.empty() || p.argv[0].empty())
      return config_error(fmt::format("pool.{}.argv must name a program, e.g. [\"python3\", \"worker.py\"]", p.name));
    if (p.types.empty() || p.types.size() > 100)
      return config_error(fmt::format("pool.{}.types must name 1 to 100 task types (got {})", p.name, p.types.size()));
    if (p.size < 1 || p.size > 1000)
      return config_error(fmt::format("pool.{}.size must be from 1 to 1000 (got {})", p.name, p.size));
    if (p.in_flight < 1 || p.in_flight > 64)
      return config_error(fmt::format("pool.{}.in-flight must be from 1 to 64 (got {})", p.name, p.in_flight));
    for (const auto& type : p.types) {
      auto control = std::any_of(type.begin(), type.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
      if (type.empty() || type.size() > 64 || !is_utf8(type) || control)
        return config_error(fmt::format("pool.{}.types: {} is not a task type (1-64 bytes of UTF-8 text)", p.name,
                                        quoted_input(type)));
      if (!seen.insert(type).second)
        return config_error(fmt::format("pool.{}.types: task type \"{}\" belongs to another pool too", p.name, type));
    }
  }
  return caf::none;
}

caf::error resolve_sandboxes(std::vector<pool_spec>& pools) {
  for (auto& p : pools)
    if (auto err = resolve(p.sandbox, "pool." + p.name))
      return err;
  return caf::none;
}

} // namespace fleet
