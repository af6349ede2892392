#include "fleet/api_bodies.hpp"

#include "fleetd/error.hpp"
#include "fleet/json_text.hpp"
#include "fleet/queue_settings.hpp"
#include "fleet/task_file.hpp"
#include "fleet/text.hpp"

#include <fmt/format.h>

#include <climits>
#include <map>

namespace fleet {

using json = nlohmann::json;

namespace {

/// fleet::http_status, except that well-formed tasks fleetd refuses are 422 (the HTTP API tells
/// them from malformed requests) and a caught exception is 500.
int api_status(errc x) {
  switch (x) {
    case errc::invalid_batch:
    case errc::invalid_task:
    case errc::duplicate_task_id:
    case errc::unknown_task_type:
    case errc::oversize_data: return 422;
    case errc::internal_error: return 500;
    default: return http_status(x);
  }
}

body_problem problem(int status, std::string code, std::string message) {
  return {status, std::move(code), std::move(message)};
}

} // namespace

body_problem problem_of(const caf::error& err) {
  if (err.category() == error_category) {
    auto code = static_cast<errc>(err.code());
    return problem(api_status(code), to_string(code), error_text(err));
  }
  return problem(503, "unavailable", "the fleet manager did not answer: " + error_text(err));
}

decoded_body<json> json_object_body(std::string_view text, size_t max_depth, bool empty_is_object,
                                    std::string_view shape) {
  if (text.empty() && empty_is_object)
    return json::object();
  if (json_nesting(text, max_depth) > max_depth)
    return problem(400, "bad_request", fmt::format("the body nests JSON deeper than {} levels", max_depth));
  auto doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return problem(400, "bad_request", fmt::format("the body must be a JSON object{}", shape));
  return doc;
}

decoded_body<std::vector<std::string>> task_ids_body(const json& body, std::string_view what) {
  std::vector<std::string> task_ids;
  auto not_ids = [] { return problem(422, "invalid_argument", "\"task_ids\" must be an array of task ids"); };
  for (const auto& [name, value] : body.items()) {
    if (name != "task_ids")
      return problem(422, "invalid_argument",
                     fmt::format("unknown field {} (a {} has task_ids)", quoted_input(name), what));
    if (!value.is_array())
      return not_ids();
    for (const auto& t : value) {
      if (!t.is_string())
        return not_ids();
      task_ids.push_back(t.get<std::string>());
    }
  }
  return task_ids;
}

decoded_body<config_update> config_update_body(const json& body) {
  config_update update;
  auto wrong = [](const std::string& name, const char* what) {
    return problem(422, "invalid_config", fmt::format("{} must be {}", name, what));
  };
  for (const auto& [name, value] : body.items()) {
    if (name == "max_concurrent_workers" || name == "max_retries") {
      if (!value.is_number_integer() || (value.is_number_unsigned() && value.get<uint64_t>() > INT32_MAX)
          || value.get<int64_t>() < INT32_MIN || value.get<int64_t>() > INT32_MAX)
        return wrong(name, "an integer");
      (name == "max_retries" ? update.max_retries : update.max_concurrent_workers) = value.get<int32_t>();
    } else if (name == "worker_timeout_ms" || name == "backoff_base_ms" || name == "backoff_cap_ms") {
      if (!value.is_number_integer() || (value.is_number_unsigned() && value.get<uint64_t>() > INT64_MAX))
        return wrong(name, "an integer");
      auto& field = name == "worker_timeout_ms" ? update.worker_timeout_ms
                    : name == "backoff_base_ms" ? update.backoff_base_ms
                                                : update.backoff_cap_ms;
      field = value.get<int64_t>();
    } else if (name == "retry_failed_tasks") {
      if (!value.is_boolean())
        return wrong(name, "true or false");
      update.retry_failed_tasks = value.get<bool>();
    } else if (name == "backoff_factor") {
      if (!value.is_number())
        return wrong(name, "a number");
      update.backoff_factor = value.get<double>();
    } else {
      return problem(422, "invalid_config", fmt::format("unknown field {} (see GET /api/v1/config)", quoted_input(name)));
    }
  }
  return update;
}

decoded_body<int32_t> scale_body(const json& body) {
  auto workers = body.find("workers");
  if (body.size() != 1 || workers == body.end() || !workers->is_number_integer()
      || (workers->is_number_unsigned() && workers->get<uint64_t>() > INT32_MAX) || workers->get<int64_t>() < 1
      || workers->get<int64_t>() > INT32_MAX)
    return problem(422, "invalid_config", "a scale is {\"workers\": N} with N >= 1");
  return workers->get<int32_t>();
}

caf::expected<queue_change> queue_change_body(const json& body) {
  if (!body.is_object())
    return caf::make_error(errc::invalid_config, "the body must be a JSON object of queue limits");
  static const std::map<std::string, std::string> names{{"max_workers", "max-workers"},
                                                        {"group_max_workers", "group-max-workers"},
                                                        {"weight", "weight"},
                                                        {"rate", "rate"},
                                                        {"paused", "paused"}};
  queue_change out;
  for (const auto& [key, value] : body.items()) {
    auto name = names.find(key);
    if (name == names.end())
      return caf::make_error(errc::invalid_config,
                             fmt::format("unknown field {} (a queue has max_workers, rate, weight, "
                                         "group_max_workers, paused)",
                                         quoted_input(key)));
    std::string text;
    if (value.is_number_integer())
      text = value.dump();
    else if (value.is_boolean())
      text = value.get<bool>() ? "true" : "false";
    else if (value.is_string())
      text = value.get<std::string>();
    else if (value.is_null() && key == "rate")
      text = "none";
    else
      return caf::make_error(errc::invalid_config, fmt::format("{} has the wrong type ({})", key, value.type_name()));
    if (auto err = apply_queue_setting(name->second, text, out))
      return err;
  }
  return out;
}

decoded_body<submit_envelope> submit_envelope_body(std::string_view text, const std::string& header_key) {
  if (json_nesting(text, max_json_nesting + 3) > max_json_nesting + 3)
    return problem(422, "invalid_task",
                   fmt::format("the body nests JSON deeper than task data may ({} levels)", max_json_nesting));
  auto doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return problem(400, "bad_request", "the body must be a JSON object: {\"tasks\": [...], \"key\": \"...\"}");
  submit_envelope out;
  out.key = header_key;
  for (const auto& [name, value] : doc.items()) {
    if (name == "key") {
      if (!value.is_string())
        return problem(422, "invalid_argument", "\"key\" must be a string");
      auto body_key = value.get<std::string>();
      if (!header_key.empty() && body_key != header_key)
        return problem(409, "conflict", "the Idempotency-Key header and the body's \"key\" differ");
      out.key = body_key;
    } else if (name == "policy") {
      auto p = policy_from_json(value, "\"policy\"");
      if (!p)
        return problem_of(p.error());
      out.defaults = *p;
    } else if (name != "tasks") {
      return problem(422, "invalid_argument",
                     fmt::format("unknown field {} (a submit has tasks, key and policy)", quoted_input(name)));
    }
  }
  auto raw = json_member_text(text, "tasks");
  auto tasks = doc.find("tasks");
  if (!raw || tasks == doc.end() || !tasks->is_array())
    return problem(422, "invalid_batch", "\"tasks\" must be an array of task objects");
  out.tasks_text = *raw;
  return out;
}

} // namespace fleet
