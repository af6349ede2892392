#include "fleet/schedule_config.hpp"

#include "fleetd/error.hpp"
#include "fleet/strict_config.hpp"
#include "fleet/task_file.hpp"
#include "fleet/time_text.hpp"

#include <caf/config_value.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fleet {

namespace {

/// The most bytes of a template file: it is read whole, and stored whole with the schedule.
constexpr std::uintmax_t max_template_bytes = 16 << 20;

caf::error text_value(const caf::config_value& value, const std::string& what, std::string& out) {
  auto s = caf::get_if<std::string>(&value);
  if (!s)
    return config_error(fmt::format("{} must be a quoted string (got {})", what, caf::to_string(value)));
  out = *s;
  return caf::none;
}

caf::expected<std::string> read_template_file(const std::string& config_path, const std::string& file,
                                              const std::string& what) {
  namespace fs = std::filesystem;
  fs::path path{file};
  if (path.is_relative())
    path = fs::path{config_path}.parent_path() / path;
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec)
    return config_error(fmt::format("{}: cannot read {}: {}", what, path.string(), ec.message()));
  if (size > max_template_bytes)
    return config_error(fmt::format("{}: {} has {} bytes, more than a template may ({} MiB)", what, path.string(),
                                    size, max_template_bytes >> 20));
  std::ifstream in{path, std::ios::binary};
  std::ostringstream text;
  text << in.rdbuf();
  if (!in && !in.eof())
    return config_error(fmt::format("{}: cannot read {}", what, path.string()));
  return text.str();
}

} // namespace

caf::error read_schedules(const caf::settings& group, const std::string& where, std::vector<schedule_spec>& out) {
  for (const auto& [name, content] : group) {
    auto entries = caf::get_if<caf::settings>(&content);
    if (!entries)
      return config_error(fmt::format("{}: schedule.{} must be a section [schedule.{}]", where, name, name));
    schedule_spec spec;
    spec.name = name;
    std::string tasks_text;
    std::string tasks_source;
    for (const auto& [key, value] : *entries) {
      auto what = fmt::format("{}: schedule.{}.{}", where, name, key);
      if (key == "cron") {
        if (auto err = text_value(value, what, spec.cron))
          return err;
      } else if (key == "tz") {
        if (auto err = text_value(value, what, spec.time_zone))
          return err;
      } else if (key == "every") {
        std::optional<int64_t> ms;
        if (auto n = caf::get_if<int64_t>(&value))
          ms = *n;
        else if (auto s = caf::get_if<std::string>(&value))
          ms = parse_duration_ms(*s);
        if (!ms || *ms <= 0)
          return config_error(fmt::format("{} must be a duration such as \"30s\" or \"1h\" (got {})", what,
                                          caf::to_string(value)));
        spec.every_ms = *ms;
      } else if (key == "missed") {
        if (auto err = text_value(value, what, spec.missed))
          return err;
      } else if (key == "overlap") {
        auto b = caf::get_if<bool>(&value);
        if (!b)
          return config_error(fmt::format("{} must be true or false (got {})", what, caf::to_string(value)));
        spec.overlap = *b;
      } else if (key == "tasks" || key == "tasks-file") {
        if (!tasks_source.empty())
          return config_error(fmt::format("{}: schedule.{} has both tasks and tasks-file; give one", where, name));
        std::string text;
        if (auto err = text_value(value, what, text))
          return err;
        if (key == "tasks-file") {
          auto file = read_template_file(where, text, what);
          if (!file)
            return file.error();
          tasks_text = std::move(*file);
          tasks_source = text;
        } else {
          tasks_text = std::move(text);
          tasks_source = fmt::format("schedule.{}.tasks", name);
        }
      } else {
        return config_error(fmt::format("{}: unknown key schedule.{}.{} (a schedule has cron, tz, every, tasks, "
                                        "tasks-file, missed, overlap)",
                                        where, name, key));
      }
    }
    if (tasks_source.empty())
      return config_error(fmt::format("{}: schedule.{} needs its tasks: tasks-file = \"FILE\" or tasks = \"[...]\"",
                                      where, name));
    auto tasks = parse_task_file(tasks_text, tasks_source);
    if (!tasks)
      return config_error(fmt::format("{}: schedule.{}: {}", where, name, error_text(tasks.error())));
    spec.tasks = std::move(*tasks);
    out.push_back(std::move(spec));
  }
  return caf::none;
}

} // namespace fleet
