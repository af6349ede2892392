#pragma once

// The request bodies of the HTTP API, decoded apart from the server so that they can be tested and
// fuzzed on their own (fuzz/http_body_fuzzer.cpp): each decoder turns the text (or parsed JSON) of
// one route's body into what the route asks the fleet manager for, or into the answer that refuses
// it (status, error code, message).

#include "fleetd/fleet_config.hpp"
#include "fleetd/queue.hpp"
#include "fleetd/task.hpp"

#include <caf/error.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace fleet {

/// Why a body is refused: the HTTP status, the API's error code and a message naming the field.
struct body_problem {
  int status = 400;
  std::string code;
  std::string message;
};

/// A refused body's answer from a fleet error (its code decides the status, as for any API error).
body_problem problem_of(const caf::error& err);

template <class T>
using decoded_body = std::variant<T, body_problem>;

/// A JSON object nesting at most `max_depth` levels; an empty text is `{}` when `empty_is_object`.
/// `shape` completes "the body must be a JSON object" in the refusal (e.g. ": a schedule").
decoded_body<nlohmann::json> json_object_body(std::string_view text, size_t max_depth, bool empty_is_object,
                                              std::string_view shape = {});

/// A cancel's or replay's {"task_ids": [...]} (no member: none); `what` names the request.
decoded_body<std::vector<std::string>> task_ids_body(const nlohmann::json& body, std::string_view what);

/// PATCH /api/v1/config: the fields to change, with JSON types.
decoded_body<config_update> config_update_body(const nlohmann::json& body);

/// POST /api/v1/scale: {"workers": N}, N from 1 to INT32_MAX.
decoded_body<int32_t> scale_body(const nlohmann::json& body);

/// PATCH /api/v1/queues/{name}: the fields as `fleetctl queue set` takes them, with JSON types
/// (numbers, "100/1s" or null for the rate, booleans).
caf::expected<queue_change> queue_change_body(const nlohmann::json& body);

/// A submit's JSON body {"tasks": [...], "key": "...", "policy": {...}} without its tasks, which
/// the task reader takes from `tasks_text` (a view into the body's text).
struct submit_envelope {
  std::string key;
  task_policy defaults; ///< for the tasks that do not set their own
  std::string_view tasks_text;
};

/// `text` must be UTF-8; `header_key` is the Idempotency-Key header (empty: none), which the
/// body's "key" must equal if both are given.
decoded_body<submit_envelope> submit_envelope_body(std::string_view text, const std::string& header_key);

} // namespace fleet
