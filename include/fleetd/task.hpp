#pragma once

#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace fleet {

/// How the fleet runs one task where it should differ from the fleet's configuration
/// (update_config): each field at its default follows the fleet, and a change of the fleet's
/// configuration then applies to the task too.
struct task_policy {
  int64_t timeout_ms = 0;   ///< each attempt's deadline; 0: the fleet's worker_timeout
  int32_t max_retries = -1; ///< retries after the first attempt; -1: the fleet's max_retries
  int64_t backoff_ms = -1;  ///< the first retry's backoff, growing as the fleet's; -1: the fleet's backoff_base
  int8_t retry = -1;        ///< 0: never retried; 1: retried even if the fleet's retry_failed_tasks is off; -1: the fleet's

  bool empty() const { return timeout_ms == 0 && max_retries < 0 && backoff_ms < 0 && retry < 0; }

  friend bool operator==(const task_policy&, const task_policy&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_policy& x) {
  return f(caf::meta::type_name("fleet.task_policy"), x.timeout_ms, x.max_retries, x.backoff_ms, x.retry);
}

/// One unit of work. `id` is unique within its batch; `data` is JSON text; higher `priority` runs first.
/// A delayed task names when it may start: `run_at` (ms since the epoch) or `delay_ms` (counted
/// from when fleetd stores it), at most one of the two; neither means at once.
/// `after` names tasks of the same batch that must succeed before this one starts (see
/// validate_dependencies); its attempts then get their results in `deps`.
/// `queue` names the queue whose limits it runs under (empty: "default"); `group` the group of
/// the queue (a tenant, a customer) whose attempts the queue's group-max-workers bounds (empty:
/// none).
struct task {
  std::string id{};
  std::string type{};
  std::string data = "{}";
  int32_t priority = 0;
  int64_t run_at = 0;
  int64_t delay_ms = 0;
  task_policy policy{};
  std::vector<std::string> after{};
  /// Set by fleetd for an attempt of a task with dependencies: a JSON object of their results by
  /// task id (empty otherwise, and ignored in a submit).
  std::string deps{};
  std::string queue{};
  std::string group{};

  friend bool operator==(const task&, const task&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task& x) {
  return f(caf::meta::type_name("fleet.task"), x.id, x.type, x.data, x.priority, x.run_at, x.delay_ms, x.policy,
           x.after, x.deps, x.queue, x.group);
}

/// A list of tasks (a submit, an upload chunk) in CAF's own sequence format, byte for byte, so
/// that peers without this overload read it. Loading reserves room for the tasks first: CAF 0.17
/// grows the vector one task at a time, and a 100,000-task submit spent a third of its time
/// moving tasks and faulting in the pages of ever bigger vectors. The room reserved is bounded by
/// what the bytes left in the message can hold, so a forged count costs no memory up front.
caf::error save_tasks(caf::serializer& sink, std::vector<task>& xs);
caf::error load_tasks(caf::deserializer& source, std::vector<task>& xs);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, std::vector<task>& xs) {
  if constexpr (std::is_base_of_v<caf::deserializer, Inspector>) {
    return load_tasks(f, xs);
  } else if constexpr (std::is_base_of_v<caf::serializer, Inspector>) {
    return save_tasks(f, xs);
  } else { // CAF's text form of a message: the tasks one after another
    static_assert(std::is_void_v<typename Inspector::result_type>, "an inspector that neither loads nor saves");
    for (auto& x : xs)
      f(x);
  }
}

/// What a worker reports for one attempt: a JSON result on success, an error text on failure.
struct task_outcome {
  bool success = false;
  std::string result{}; // JSON, empty on failure
  std::string error{};  // empty on success
  /// On failure: whether another attempt may succeed. False for a task that can never run as
  /// submitted (a program that does not exist): it fails at once, whatever retries are left.
  bool retry = true;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_outcome& x) {
  return f(caf::meta::type_name("fleet.task_outcome"), x.success, x.result, x.error, x.retry);
}

inline task_outcome success(std::string result_json) {
  return {true, std::move(result_json), {}, true};
}

/// A failed attempt; the task is retried by the fleet's rules.
inline task_outcome failure(std::string error) {
  return {false, {}, std::move(error), true};
}

/// A failed attempt that no retry can mend: the task fails at once.
inline task_outcome permanent_failure(std::string error) {
  return {false, {}, std::move(error), false};
}

/// The final result of a finished task, as listed by batch_results.
struct task_result {
  std::string task_id{};
  bool success = false;
  std::string result{}; // JSON of the successful attempt, empty otherwise
  std::string error{};  // error of the last attempt (or "cancelled"), empty on success
  int32_t attempts = 0;
  int64_t duration_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_result& x) {
  return f(caf::meta::type_name("fleet.task_result"), x.task_id, x.success, x.result, x.error,
           x.attempts, x.duration_ms);
}

/// One page of batch_results: finished tasks in submission order after a cursor.
struct results_page {
  std::vector<task_result> items{};
  int64_t next_cursor = 0; ///< pass it back to get the next page
  bool done = false;       ///< the end of the batch was reached (a running batch may add more later)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, results_page& x) {
  return f(caf::meta::type_name("fleet.results_page"), x.items, x.next_cursor, x.done);
}

/// A task that exhausted its retries (a dead letter), as `fleetctl failed` lists it.
struct dead_letter {
  std::string batch_id{};
  std::string task_id{};
  std::string type{};
  int32_t attempts = 0;
  std::string error{}; ///< of the last attempt
  int64_t failed_at = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dead_letter& x) {
  return f(caf::meta::type_name("fleet.dead_letter"), x.batch_id, x.task_id, x.type, x.attempts, x.error,
           x.failed_at);
}

/// One page of dead letters, oldest task first.
struct dead_letter_page {
  std::vector<dead_letter> items{};
  int64_t next_cursor = 0;
  bool done = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dead_letter_page& x) {
  return f(caf::meta::type_name("fleet.dead_letter_page"), x.items, x.next_cursor, x.done);
}

/// One task of a batch where it is now, as `fleetctl status BATCH --tasks` lists it and
/// `fleetctl graph` draws it.
struct task_entry {
  std::string task_id{};
  std::string state{}; ///< pending, blocked, scheduled, running, retry_wait, succeeded, failed, cancelled
  int32_t attempts = 0;
  double progress = -1;             ///< the latest progress its attempt reported, 0..1; -1: none
  std::string note{};               ///< with that report
  std::vector<std::string> after{}; ///< the tasks it runs after
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_entry& x) {
  return f(caf::meta::type_name("fleet.task_entry"), x.task_id, x.state, x.attempts, x.progress, x.note, x.after);
}

/// One page of a batch's tasks: in submission order after a cursor.
struct task_page {
  std::vector<task_entry> items{};
  int64_t next_cursor = 0;
  bool done = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_page& x) {
  return f(caf::meta::type_name("fleet.task_page"), x.items, x.next_cursor, x.done);
}

} // namespace fleet
