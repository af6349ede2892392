#pragma once

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>

namespace fleet {

/// One unit of work. `id` is unique within its batch; `data` is JSON text; higher `priority` runs first.
struct task {
  std::string id;
  std::string type;
  std::string data = "{}";
  int32_t priority = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task& x) {
  return f(caf::meta::type_name("fleet.task"), x.id, x.type, x.data, x.priority);
}

/// What a worker reports for one attempt: a JSON result on success, an error text on failure.
struct task_outcome {
  bool success = false;
  std::string result; // JSON, empty on failure
  std::string error;  // empty on success
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_outcome& x) {
  return f(caf::meta::type_name("fleet.task_outcome"), x.success, x.result, x.error);
}

inline task_outcome success(std::string result_json) {
  return {true, std::move(result_json), {}};
}

inline task_outcome failure(std::string error) {
  return {false, {}, std::move(error)};
}

/// The final result of a finished task, as listed by batch_results.
struct task_result {
  std::string task_id;
  bool success = false;
  std::string result; // JSON of the successful attempt, empty otherwise
  std::string error;  // error of the last attempt (or "cancelled"), empty on success
  int32_t attempts = 0;
  int64_t duration_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_result& x) {
  return f(caf::meta::type_name("fleet.task_result"), x.task_id, x.success, x.result, x.error,
           x.attempts, x.duration_ms);
}

} // namespace fleet
