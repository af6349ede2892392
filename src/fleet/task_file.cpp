#include "fleet/task_file.hpp"

#include "fleetd/error.hpp"
#include "fleet/dependency_graph.hpp"
#include "fleet/json_text.hpp"
#include "fleet/queue_settings.hpp"
#include "fleet/text.hpp"
#include "fleet/time_text.hpp"
#include "fleet/validation.hpp"

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

/// The 1-based line and column of a byte offset.
std::pair<int64_t, int64_t> position_of(std::string_view text, size_t byte_offset) {
  int64_t line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < byte_offset && i < text.size(); ++i)
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  return {line, static_cast<int64_t>(byte_offset - line_start) + 1};
}

/// A task whose id may still have to be generated.
struct parsed_task {
  task spec;
  bool has_id = false;
};

/// Reads `key` into `p` if it names a policy field: none if it does not, the problem if its value
/// is not one, empty if it was read.
std::optional<std::string> read_policy_member(const std::string& key, const json& value, task_policy& p) {
  if (key == "timeout_ms" || key == "backoff_ms") {
    if (!value.is_number_unsigned() || value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      return fmt::format("\"{}\" must be an integer of ms, 0 or more", key);
    (key == "timeout_ms" ? p.timeout_ms : p.backoff_ms) = value.get<int64_t>();
    if (key == "timeout_ms" && p.timeout_ms == 0)
      return "\"timeout_ms\" must be at least 1 (leave it out for the fleet's worker_timeout)";
    return std::string{};
  }
  if (key == "max_retries") {
    if (!value.is_number_unsigned() || value.get<uint64_t>() > static_cast<uint64_t>(INT32_MAX))
      return "\"max_retries\" must be an integer, 0 or more";
    p.max_retries = value.get<int32_t>();
    return std::string{};
  }
  if (key == "retry") {
    if (!value.is_boolean())
      return "\"retry\" must be true or false";
    p.retry = value.get<bool>() ? 1 : 0;
    return std::string{};
  }
  return std::nullopt;
}

/// A task's "after": an array of task ids (non-empty strings); the problem, empty if none.
std::string read_after(const json& value, std::vector<std::string>& out) {
  if (!value.is_array())
    return "\"after\" must be an array of task ids";
  if (value.size() > max_dependencies_per_task)
    return fmt::format("\"after\" names {} tasks, more than the limit of {}", value.size(),
                       max_dependencies_per_task);
  out.clear();
  for (const auto& id : value) {
    if (!id.is_string() || id.get<std::string>().empty())
      return "\"after\" must be an array of task ids (non-empty strings)";
    out.push_back(id.get<std::string>());
  }
  return {};
}

/// `x` is the parsed task object, `raw` its text as written.
caf::expected<parsed_task> to_task(const json& x, std::string_view raw, const std::string& where,
                                   const submit_limits& limits) {
  if (!x.is_object())
    return at(where, fmt::format("a task must be a JSON object, not {}", x.type_name()));
  parsed_task out;
  bool has_type = false;
  for (const auto& [key, value] : x.items()) {
    if (key == "id") {
      if (!value.is_string() || value.get<std::string>().empty())
        return at(where, "\"id\" must be a non-empty string");
      out.spec.id = value.get<std::string>();
      if (out.spec.id.size() > limits.max_id_bytes)
        return at(where, fmt::format("id {} is longer than {} bytes (fleet.max-id-length)", quoted_input(out.spec.id),
                                     limits.max_id_bytes));
      out.has_id = true;
    } else if (key == "type") {
      if (!value.is_string() || value.get<std::string>().empty())
        return at(where, "\"type\" must be a non-empty string");
      out.spec.type = value.get<std::string>();
    } else if (key == "data") {
      // As written: parsing and writing it again would round integers beyond a double's precision.
      auto text = json_member_text(raw, "data");
      out.spec.data = text ? std::string{*text} : dump_json(value);
      if (out.spec.data.size() > limits.max_data_bytes)
        return at(where, fmt::format("data is {} bytes, more than the limit of {} (fleet.max-task-data)",
                                     out.spec.data.size(), limits.max_data_bytes));
    } else if (key == "priority") {
      if (!value.is_number_integer())
        return at(where, "\"priority\" must be an integer");
      auto p = json_priority(value);
      if (!p)
        return at(where, fmt::format("\"priority\" {} is out of range", value.dump()));
      out.spec.priority = *p;
    } else if (key == "run_at") {
      // Epoch ms, or an RFC 3339 time: what a person writes into a file.
      if (value.is_number_unsigned() && value.get<uint64_t>() > 0
          && value.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX)) {
        out.spec.run_at = static_cast<int64_t>(value.get<uint64_t>());
      } else if (value.is_string()) {
        auto ms = parse_rfc3339_ms(value.get<std::string>());
        if (!ms || *ms <= 0)
          return at(where, fmt::format("\"run_at\" {} is not an RFC 3339 time such as \"2026-12-24T18:00:00Z\"",
                                       quoted_input(value.get<std::string>())));
        out.spec.run_at = *ms;
      } else {
        return at(where, "\"run_at\" must be a time in ms since the epoch (a positive integer) or an RFC 3339 string");
      }
    } else if (key == "delay_ms") {
      if (!value.is_number_unsigned() || value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
        return at(where, "\"delay_ms\" must be an integer of ms, 0 or more");
      out.spec.delay_ms = value.get<int64_t>();
    } else if (key == "after") {
      if (auto problem = read_after(value, out.spec.after); !problem.empty())
        return at(where, problem);
    } else if (key == "queue" || key == "group") {
      if (!value.is_string())
        return at(where, fmt::format("\"{}\" must be a string", key));
      auto text = value.get<std::string>();
      auto problem = key == "queue" ? queue_name_problem(text) : group_problem(text);
      if (!problem.empty())
        return at(where, problem);
      (key == "queue" ? out.spec.queue : out.spec.group) = std::move(text);
    } else if (auto problem = read_policy_member(key, value, out.spec.policy)) {
      if (!problem->empty())
        return at(where, *problem);
    } else {
      return at(where, fmt::format("unknown field {} (a task has id, type, data, priority, run_at, delay_ms,"
                                   " after, queue, group, timeout_ms, max_retries, backoff_ms, retry)",
                                   quoted_input(key)));
    }
    has_type = has_type || key == "type";
  }
  if (!has_type)
    return at(where, "the task has no \"type\"");
  if (auto problem = policy_problem(out.spec.policy); !problem.empty())
    return at(where, problem);
  return out;
}

/// "line L, column C: invalid JSON: what went wrong near '...'", counted from `base_line`.
std::string syntax_error(const json::parse_error& e, std::string_view text, int64_t base_line) {
  // nlohmann's byte offset is 1-based and points just past the offending character.
  auto [line, column] = position_of(text, e.byte > 0 ? e.byte - 1 : 0);
  return fmt::format("line {}, column {}: invalid JSON: {}", base_line + line - 1, column,
                     json_syntax_reason(e.what()));
}

/// Errors the parser raises besides syntax errors: found by fuzz/task_file_fuzzer, a number too
/// big for a double (1e999) is an out_of_range exception, which used to end fleetctl.
std::string other_json_error(const json::exception& e) {
  if (e.id == 406)
    return "invalid JSON: a number is out of range";
  return fmt::format("invalid JSON: {}", printable(e.what(), 200));
}

/// Nesting is checked before parsing: writing a deep document again overflows the stack.
caf::error check_nesting(std::string_view text, const std::string& where) {
  // The task object itself is one level around its data.
  if (json_nesting(text, max_json_nesting + 1) > max_json_nesting + 1)
    return at(where, fmt::format("JSON nested deeper than {} levels (task data may nest up to {})",
                                 max_json_nesting + 1, max_json_nesting));
  return caf::none;
}

/// The longest line that can hold a task within `limits`: its data, its id and type written
/// with every character escaped, and room for the field names and the priority.
size_t max_line_bytes(const submit_limits& limits) {
  return limits.max_data_bytes + 6 * (limits.max_id_bytes + limits.max_type_bytes) + 4096;
}

} // namespace

task_stream::task_stream(std::istream& in, std::string source, submit_limits limits)
  : in_(in), source_(std::move(source)), limits_(limits) {
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
  if (auto err = check_nesting(text, source_))
    return err;
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    return caf::make_error(errc::invalid_task, fmt::format("{} {}", source_, syntax_error(e, text, line_ + 1)));
  } catch (const json::exception& e) {
    return caf::make_error(errc::invalid_task, fmt::format("{}: {}", source_, other_json_error(e)));
  }
  auto raw = json_array_items(text);
  array_ = std::make_unique<std::vector<task>>();
  array_->reserve(doc.size());
  for (size_t i = 0; i < doc.size(); ++i) {
    auto where = fmt::format("{} task {} of the array", source_, count_ + 1);
    auto t = to_task(doc[i], i < raw.size() ? raw[i] : std::string_view{}, where, limits_);
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

bool task_stream::read_line(std::string& row, bool& too_long) {
  row.clear();
  too_long = false;
  auto limit = max_line_bytes(limits_);
  auto* buf = in_.rdbuf();
  for (;;) {
    auto c = buf->sbumpc();
    if (c == std::char_traits<char>::eof())
      return !row.empty();
    if (c == '\n')
      return true;
    if (row.size() >= limit) {
      too_long = true; // the rest of the line is never read
      return true;
    }
    row.push_back(static_cast<char>(c));
  }
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
    bool too_long = false;
    while (out.size() < max) {
      if (!read_line(row, too_long)) {
        done_ = true;
        break;
      }
      ++line_;
      auto where = fmt::format("{} line {}", source_, line_);
      if (too_long)
        return at(where, fmt::format("the line is longer than {} bytes, more than a task within fleetd's "
                                     "limits can take (fleet.max-task-data is {})",
                                     max_line_bytes(limits_), limits_.max_data_bytes));
      if (row.find_first_not_of(" \t\r") == std::string::npos)
        continue;
      if (auto err = check_nesting(row, where))
        return err;
      json doc;
      try {
        doc = json::parse(row);
      } catch (const json::parse_error& e) {
        return caf::make_error(errc::invalid_task, fmt::format("{} {}", source_, syntax_error(e, row, line_)));
      } catch (const json::exception& e) {
        return at(where, other_json_error(e));
      }
      auto t = to_task(doc, row, where, limits_);
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

nlohmann::json policy_members(const task_policy& p) {
  auto out = json::object();
  if (p.timeout_ms != 0)
    out["timeout_ms"] = p.timeout_ms;
  if (p.max_retries >= 0)
    out["max_retries"] = p.max_retries;
  if (p.backoff_ms >= 0)
    out["backoff_ms"] = p.backoff_ms;
  if (p.retry >= 0)
    out["retry"] = p.retry == 1;
  return out;
}

caf::expected<task_policy> policy_from_json(const nlohmann::json& x, const std::string& where) {
  if (!x.is_object())
    return at(where, "a policy must be a JSON object");
  task_policy out;
  for (const auto& [key, value] : x.items()) {
    auto problem = read_policy_member(key, value, out);
    if (!problem)
      return at(where, fmt::format("unknown field {} (a policy has timeout_ms, max_retries, backoff_ms, retry)",
                                   quoted_input(key)));
    if (!problem->empty())
      return at(where, *problem);
  }
  if (auto problem = policy_problem(out); !problem.empty())
    return at(where, problem);
  return out;
}

void fill_policy(task_policy& p, const task_policy& defaults) {
  if (p.timeout_ms == 0)
    p.timeout_ms = defaults.timeout_ms;
  if (p.backoff_ms < 0)
    p.backoff_ms = defaults.backoff_ms;
  // The retry rule is max_retries and retry together: a task's own ("retry": false) wins whole.
  if (p.max_retries < 0 && p.retry < 0) {
    p.max_retries = defaults.max_retries;
    p.retry = defaults.retry;
  }
}

std::string policy_members_text(const task_policy& p) {
  std::string out;
  auto members = policy_members(p);
  for (const auto& [key, value] : members.items())
    out += fmt::format(",\"{}\":{}", key, value.dump());
  return out;
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
