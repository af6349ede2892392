#include "fleet/task_file.hpp"

#include "fleet/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <iterator>
#include <sstream>
#include <optional>

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
      if (!value.is_string() || value.get<std::string>().empty())
        return at(where, "\"id\" must be a non-empty string");
      out.spec.id = value.get<std::string>();
      out.has_id = true;
    } else if (key == "type") {
      if (!value.is_string() || value.get<std::string>().empty())
        return at(where, "\"type\" must be a non-empty string");
      out.spec.type = value.get<std::string>();
      has_type = true;
    } else if (key == "data") {
      out.spec.data = value.dump();
    } else if (key == "priority") {
      if (!value.is_number_integer())
        return at(where, "\"priority\" must be an integer");
      auto p = json_priority(value);
      if (!p)
        return at(where, fmt::format("\"priority\" {} is out of range", value.dump()));
      out.spec.priority = *p;
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

/// Errors the parser raises besides syntax errors: found by fuzz/task_file_fuzzer, a number too
/// big for a double (1e999) is an out_of_range exception, which used to end fleetctl.
std::string other_json_error(const json::exception& e) {
  if (e.id == 406)
    return "invalid JSON: a number is out of range";
  return fmt::format("invalid JSON: {}", e.what());
}

} // namespace

task_stream::task_stream(std::istream& in, std::string source)
  : in_(in), source_(std::move(source)) {
}

caf::error task_stream::start() {
  started_ = true;
  // Skip leading blank space to tell a JSON array from JSON Lines.
  int c;
  while ((c = in_.peek()) != EOF && std::isspace(c)) {
    if (c == '\n')
      ++line_;
    in_.get();
  }
  if (c == EOF)
    return caf::make_error(errc::invalid_batch, fmt::format("{}: no tasks", source_));
  if (c != '[')
    return caf::none;
  // A JSON array is one document: read it whole, then hand it out in chunks.
  std::string text{std::istreambuf_iterator<char>{in_}, {}};
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    return caf::make_error(errc::invalid_task, fmt::format("{} {}", source_, syntax_error(e, text, line_ + 1)));
  } catch (const json::exception& e) {
    return caf::make_error(errc::invalid_task, fmt::format("{}: {}", source_, other_json_error(e)));
  }
  array_ = std::make_unique<std::vector<task>>();
  array_->reserve(doc.size());
  for (const auto& element : doc) {
    auto t = to_task(element, fmt::format("{} task {} of the array", source_, count_ + 1));
    if (!t)
      return t.error();
    array_->push_back(name(std::move(t->spec), t->has_id));
  }
  return caf::none;
}

task task_stream::name(task spec, bool has_id) {
  ++count_;
  if (!has_id)
    spec.id = fmt::format("task-{}", count_);
  return spec;
}

caf::expected<std::vector<task>> task_stream::next(size_t max) {
  if (!started_)
    if (auto err = start())
      return err;
  std::vector<task> out;
  if (array_) {
    auto n = std::min(max, array_->size() - array_pos_);
    out.assign(std::make_move_iterator(array_->begin() + static_cast<ptrdiff_t>(array_pos_)),
               std::make_move_iterator(array_->begin() + static_cast<ptrdiff_t>(array_pos_ + n)));
    array_pos_ += n;
    done_ = array_pos_ == array_->size();
  } else {
    std::string row;
    while (out.size() < max) {
      if (!std::getline(in_, row)) {
        done_ = true;
        break;
      }
      ++line_;
      if (row.find_first_not_of(" \t\r") == std::string::npos)
        continue;
      json doc;
      try {
        doc = json::parse(row);
      } catch (const json::parse_error& e) {
        return caf::make_error(errc::invalid_task, fmt::format("{} {}", source_, syntax_error(e, row, line_)));
      } catch (const json::exception& e) {
        return caf::make_error(errc::invalid_task,
                               fmt::format("{} line {}: {}", source_, line_, other_json_error(e)));
      }
      auto t = to_task(doc, fmt::format("{} line {}", source_, line_));
      if (!t)
        return t.error();
      out.push_back(name(std::move(t->spec), t->has_id));
    }
  }
  if (done_ && count_ == 0)
    return caf::make_error(errc::invalid_batch, fmt::format("{}: no tasks", source_));
  return out;
}

std::optional<int32_t> json_priority(const nlohmann::json& value) {
  if (!value.is_number_integer())
    return std::nullopt;
  // An unsigned integer above INT64_MAX would wrap when read as int64.
  if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(INT32_MAX))
    return std::nullopt;
  auto p = value.get<int64_t>();
  if (p < INT32_MIN || p > INT32_MAX)
    return std::nullopt;
  return static_cast<int32_t>(p);
}

caf::expected<std::vector<task>> parse_task_file(std::string_view text, const std::string& source) {
  std::istringstream in{std::string{text}};
  task_stream stream{in, source};
  std::vector<task> all;
  while (!stream.done()) {
    auto chunk = stream.next(SIZE_MAX);
    if (!chunk)
      return chunk.error();
    all.insert(all.end(), std::make_move_iterator(chunk->begin()), std::make_move_iterator(chunk->end()));
  }
  return all;
}

} // namespace fleet
