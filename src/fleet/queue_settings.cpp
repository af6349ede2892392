#include "fleet/queue_settings.hpp"

#include "fleetd/error.hpp"
#include "fleetd/fleet_config.hpp"
#include "fleet/parse_number.hpp"
#include "fleet/text.hpp"
#include "fleet/time_text.hpp"

#include <caf/config_value.hpp>
#include <caf/settings.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace fleet {

namespace {

caf::error setting_error(std::string_view key, std::string text) {
  return caf::make_error(errc::invalid_config, fmt::format("queue setting {}: {}", key, text));
}

/// A whole number within [low, high]; "none" reads as 0 where `none_is_zero`.
caf::expected<int64_t> bounded(std::string_view key, std::string_view value, int64_t low, int64_t high,
                               bool none_is_zero) {
  if (none_is_zero && value == "none")
    return int64_t{0};
  auto n = parse_integer(std::string{value});
  if (!n || *n < low || *n > high)
    return setting_error(key, fmt::format("must be a whole number from {} to {}{} (got {})", low, high,
                                          none_is_zero ? ", or none (0: no limit)" : "", quoted_input(value)));
  return *n;
}

} // namespace

std::string queue_name_problem(std::string_view name) {
  if (name.empty())
    return "a queue name is empty";
  if (name.size() > max_queue_name_bytes)
    return fmt::format("queue name {} is longer than {} bytes", quoted_input(name), max_queue_name_bytes);
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()))
    return fmt::format("queue name {} must start with a letter or a digit", quoted_input(name));
  for (auto c : name)
    if (!alnum(c) && c != '.' && c != '_' && c != '-')
      return fmt::format("queue name {} may hold only letters, digits, '.', '_' and '-'", quoted_input(name));
  return {};
}

std::string group_problem(std::string_view group) {
  if (group.size() > max_group_bytes)
    return fmt::format("group is longer than {} bytes", max_group_bytes);
  if (!is_utf8(group))
    return "group is not valid UTF-8";
  for (auto c : group)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return fmt::format("group {} holds a control character", quoted_input(group));
  return {};
}

caf::expected<std::pair<int32_t, int64_t>> parse_rate(std::string_view text) {
  if (text == "none" || text == "0")
    return std::pair<int32_t, int64_t>{0, 0};
  auto bad = [&] {
    return caf::make_error(errc::invalid_config,
                           fmt::format("rate {} must be N/INTERVAL such as 100/1s, 5/250ms or 1000/1m (N from 1 to "
                                       "{}, the interval from 1ms to 1d), or none",
                                       quoted_input(text), max_rate_count));
  };
  auto slash = text.find('/');
  if (slash == std::string_view::npos)
    return bad();
  auto count = parse_integer(std::string{text.substr(0, slash)});
  auto interval_text = text.substr(slash + 1);
  std::optional<int64_t> interval;
  if (interval_text == "s" || interval_text == "m" || interval_text == "h" || interval_text == "d")
    interval = parse_duration_ms(fmt::format("1{}", interval_text));
  else
    interval = parse_duration_ms(interval_text);
  if (!count || *count < 1 || *count > max_rate_count || !interval || *interval < 1
      || *interval > max_rate_interval_ms)
    return bad();
  return std::pair<int32_t, int64_t>{static_cast<int32_t>(*count), *interval};
}

std::string rate_text(int32_t count, int64_t interval_ms) {
  if (count <= 0)
    return "none";
  return fmt::format("{}/{}", count, format_duration_ms(interval_ms));
}

caf::error apply_queue_setting(std::string_view key, std::string_view value, queue_change& out) {
  if (key == "max-workers" || key == "group-max-workers") {
    auto n = bounded(key, value, 0, config_bounds::max_workers, true);
    if (!n)
      return n.error();
    (key == "max-workers" ? out.max_workers : out.group_max_workers) = static_cast<int32_t>(*n);
  } else if (key == "weight") {
    auto n = bounded(key, value, 1, max_queue_weight, false);
    if (!n)
      return n.error();
    out.weight = static_cast<int32_t>(*n);
  } else if (key == "rate") {
    auto rate = parse_rate(value);
    if (!rate)
      return setting_error(key, error_text(rate.error()));
    out.rate_count = rate->first;
    out.rate_interval_ms = rate->second;
  } else if (key == "paused") {
    if (value != "true" && value != "false")
      return setting_error(key, fmt::format("must be true or false (got {})", quoted_input(value)));
    out.paused = value == "true" ? 1 : 0;
  } else {
    return caf::make_error(errc::invalid_config,
                           fmt::format("unknown queue setting {} (a queue has max-workers, rate, weight, "
                                       "group-max-workers, paused)",
                                       quoted_input(key)));
  }
  return caf::none;
}

queue_limits apply(queue_limits limits, const queue_change& change) {
  if (change.max_workers >= 0)
    limits.max_workers = change.max_workers;
  if (change.rate_count >= 0 && change.rate_interval_ms >= 0) {
    limits.rate_count = change.rate_count;
    limits.rate_interval_ms = change.rate_interval_ms;
  }
  if (change.weight >= 1)
    limits.weight = change.weight;
  if (change.group_max_workers >= 0)
    limits.group_max_workers = change.group_max_workers;
  if (change.paused >= 0)
    limits.paused = change.paused == 1;
  return limits;
}

caf::error read_queues(const caf::settings& group, const std::string& where,
                       std::map<std::string, queue_limits>& out) {
  for (const auto& [name, content] : group) {
    auto entries = caf::get_if<caf::settings>(&content);
    if (!entries)
      return caf::make_error(errc::invalid_config, fmt::format("{}: queue.{} must be a section [queue.{}]", where, name, name));
    if (auto problem = queue_name_problem(name); !problem.empty())
      return caf::make_error(errc::invalid_config, fmt::format("{}: [queue.{}]: {}", where, name, problem));
    queue_change change;
    for (const auto& [key, value] : *entries) {
      // Numbers and booleans arrive typed, rates as strings: each is read as its text.
      std::string text;
      if (auto s = caf::get_if<std::string>(&value))
        text = *s;
      else if (auto b = caf::get_if<bool>(&value))
        text = *b ? "true" : "false";
      else
        text = caf::to_string(value);
      if (auto err = apply_queue_setting(key, text, change))
        return caf::make_error(errc::invalid_config, fmt::format("{}: queue.{}.{}: {}", where, name, key, error_text(err)));
    }
    out[name] = apply(queue_limits{}, change);
  }
  return caf::none;
}

nlohmann::json to_json(const queue_limits& x) {
  return {{"max_workers", x.max_workers},
          {"rate", rate_text(x.rate_count, x.rate_interval_ms)},
          {"weight", x.weight},
          {"group_max_workers", x.group_max_workers},
          {"paused", x.paused}};
}

nlohmann::json to_json(const queue_info& x) {
  auto out = to_json(x.limits);
  out["name"] = x.name;
  out["pending"] = x.pending;
  out["running"] = x.running;
  out["started"] = x.started;
  out["groups_running"] = x.groups;
  out["tokens"] = x.tokens;
  out["declared"] = x.declared;
  return out;
}

nlohmann::json queue_changed_detail(const std::string& name, const queue_change& change, const queue_limits& in_force) {
  auto set = nlohmann::json::object();
  if (change.max_workers >= 0)
    set["max_workers"] = change.max_workers;
  if (change.rate_count >= 0)
    set["rate"] = rate_text(change.rate_count, change.rate_interval_ms);
  if (change.weight >= 0)
    set["weight"] = change.weight;
  if (change.group_max_workers >= 0)
    set["group_max_workers"] = change.group_max_workers;
  if (change.paused >= 0)
    set["paused"] = change.paused == 1;
  return nlohmann::json{{"queue", name}, {"set", set}, {"limits", to_json(in_force)}};
}

} // namespace fleet
