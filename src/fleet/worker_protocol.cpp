#include "fleet/worker_protocol.hpp"

#include "fleetd/error.hpp"
#include "fleet/json_text.hpp"
#include "fleet/text.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace fleet {

namespace {

using json = nlohmann::json;

caf::error violation(std::string text) {
  return caf::make_error(errc::worker_failed, "the worker broke the protocol: " + std::move(text));
}

std::string cut(const std::string& s) {
  if (s.size() <= max_worker_text)
    return s;
  return std::string{utf8_head(s, max_worker_text)} + "...";
}

} // namespace

caf::expected<std::string> request_line(const pool_request& r) {
  // Re-encoded compactly: stored data may hold line breaks between its tokens.
  auto data = json::parse(r.data_json, nullptr, false);
  if (data.is_discarded())
    return caf::make_error(errc::invalid_task, fmt::format("task {}: data is not valid JSON", r.task_id));
  json line{{"id", r.attempt_id}, {"task_id", r.task_id}, {"batch_id", r.batch_id}, {"type", r.type},
            {"data", std::move(data)}, {"attempt", r.attempt}, {"deadline_ms", r.deadline_ms}};
  if (!r.deps_json.empty()) {
    auto deps = json::parse(r.deps_json, nullptr, false);
    if (deps.is_discarded())
      return caf::make_error(errc::invalid_task, fmt::format("task {}: its dependencies' results are not valid JSON",
                                                             r.task_id));
    line["deps"] = std::move(deps);
  }
  return dump_json(line) + "\n";
}

caf::expected<worker_reply> parse_worker_line(std::string_view line) {
  if (line.size() > max_worker_line)
    return violation(fmt::format("a line of more than {} bytes", max_worker_line));
  if (json_nesting(line) > max_json_nesting)
    return violation("a line nested too deeply");
  auto msg = json::parse(line, nullptr, false);
  if (msg.is_discarded())
    return violation(fmt::format("a line that is not JSON: {}", quoted_input(line)));
  if (!msg.is_object())
    return violation(fmt::format("a line that is not a JSON object: {}", quoted_input(line)));
  auto id = msg.find("id");
  if (id == msg.end() || !id->is_string())
    return violation(fmt::format("a line without a string \"id\": {}", quoted_input(line)));
  worker_reply out;
  out.id = id->get<std::string>();
  auto ok = msg.find("ok");
  auto progress = msg.find("progress");
  if (ok != msg.end()) {
    if (!ok->is_boolean())
      return violation("\"ok\" must be true or false");
    if (ok->get<bool>()) {
      auto result = msg.find("result");
      out.outcome = success(result == msg.end() ? std::string{"null"} : dump_json(*result));
      return out;
    }
    auto error = msg.find("error");
    if (error == msg.end() || !error->is_string())
      return violation("\"ok\": false needs a string \"error\"");
    auto retry = msg.find("retry");
    if (retry != msg.end() && !retry->is_boolean())
      return violation("\"retry\" must be true or false");
    auto text = cut(error->get<std::string>());
    out.outcome = retry != msg.end() && !retry->get<bool>() ? permanent_failure(std::move(text))
                                                            : failure(std::move(text));
    return out;
  }
  if (progress == msg.end())
    return violation("a line with neither \"ok\" nor \"progress\"");
  if (!progress->is_number() || !(progress->get<double>() >= 0.0 && progress->get<double>() <= 1.0))
    return violation("\"progress\" must be a number from 0 to 1");
  out.what = worker_reply::kind::progress;
  out.progress = progress->get<double>();
  if (auto note = msg.find("note"); note != msg.end()) {
    if (!note->is_string())
      return violation("\"note\" must be a string");
    out.note = cut(note->get<std::string>());
  }
  return out;
}

} // namespace fleet
