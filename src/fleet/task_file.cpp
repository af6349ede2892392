#include "fleet/task_file.hpp"

#include "fleet/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <climits>
#include <optional>
#include <unordered_set>

namespace fleet {

namespace {

using json = nlohmann::json;

caf::error at(const std::string& where, const std::string& what) {
  return caf::make_error(errc::invalid_task, fmt::format("{}: {}", where, what));
}

int64_t line_of(std::string_view text, size_t byte_offset) {
  int64_t line = 1;
  for (size_t i = 0; i < byte_offset && i < text.size(); ++i)
    if (text[i] == '\n')
      ++line;
  return line;
}

/// A task whose id may still have to be generated.
struct parsed_task {
  task spec;
  bool has_id = false;
};

caf::expected<parsed_task> to_task(const json& x, const std::string& where) {
  if (!x.is_object())
    return at(where, fmt::format("a task must be a JSON object, not {}", x.type_name()));
  parsed_task out;
  bool has_type = false;
  for (const auto& [key, value] : x.items()) {
    if (key == "id") {
      if (!value.is_string())
        return at(where, "\"id\" must be a string");
      out.spec.id = value.get<std::string>();
      out.has_id = true;
    } else if (key == "type") {
      if (!value.is_string())
        return at(where, "\"type\" must be a string");
      out.spec.type = value.get<std::string>();
      has_type = true;
    } else if (key == "data") {
      out.spec.data = value.dump();
    } else if (key == "priority") {
      if (!value.is_number_integer())
        return at(where, "\"priority\" must be an integer");
      auto p = value.get<int64_t>();
      if (p < INT32_MIN || p > INT32_MAX)
        return at(where, fmt::format("\"priority\" {} is out of range", p));
      out.spec.priority = static_cast<int32_t>(p);
    } else {
      return at(where, fmt::format("unknown field \"{}\" (a task has id, type, data, priority)", key));
    }
  }
  if (!has_type)
    return at(where, "the task has no \"type\"");
  return out;
}

std::string syntax_error(const json::parse_error& e, std::string_view text, int64_t base_line) {
  // nlohmann's byte offset is 1-based and points just past the offending character.
  auto offset = e.byte > 0 ? e.byte - 1 : 0;
  auto what = std::string{e.what()};
  if (auto colon = what.rfind(": "); colon != std::string::npos)
    what = what.substr(colon + 2);
  return fmt::format("line {}: invalid JSON: {}", base_line + line_of(text, offset) - 1, what);
}

} // namespace

caf::expected<std::vector<task>> parse_task_file(std::string_view text, const std::string& source) {
  std::vector<parsed_task> parsed;
  auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos)
    return caf::make_error(errc::invalid_batch, fmt::format("{}: no tasks", source));
  if (text[first] == '[') {
    json doc;
    try {
      doc = json::parse(text.begin(), text.end());
    } catch (const json::parse_error& e) {
      return caf::make_error(errc::invalid_task, fmt::format("{} {}", source, syntax_error(e, text, 1)));
    }
    size_t index = 0;
    for (const auto& element : doc) {
      ++index;
      auto t = to_task(element, fmt::format("{} task {} of the array", source, index));
      if (!t)
        return t.error();
      parsed.push_back(std::move(*t));
    }
  } else {
    int64_t line = 0;
    size_t pos = 0;
    while (pos <= text.size()) {
      auto end = text.find('\n', pos);
      auto row = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
      ++line;
      pos = end == std::string_view::npos ? text.size() + 1 : end + 1;
      if (row.find_first_not_of(" \t\r") == std::string_view::npos)
        continue;
      json doc;
      try {
        doc = json::parse(row.begin(), row.end());
      } catch (const json::parse_error& e) {
        return caf::make_error(errc::invalid_task, fmt::format("{} {}", source, syntax_error(e, row, line)));
      }
      auto t = to_task(doc, fmt::format("{} line {}", source, line));
      if (!t)
        return t.error();
      parsed.push_back(std::move(*t));
    }
  }
  if (parsed.empty())
    return caf::make_error(errc::invalid_batch, fmt::format("{}: no tasks", source));
  std::unordered_set<std::string> taken;
  for (const auto& p : parsed)
    if (p.has_id)
      taken.insert(p.spec.id);
  std::vector<task> out;
  out.reserve(parsed.size());
  size_t n = 0;
  for (auto& p : parsed) {
    ++n;
    if (!p.has_id) {
      auto id = fmt::format("task-{}", n);
      while (taken.count(id) > 0)
        id += "'";
      taken.insert(id);
      p.spec.id = std::move(id);
    }
    out.push_back(std::move(p.spec));
  }
  return out;
}

} // namespace fleet
