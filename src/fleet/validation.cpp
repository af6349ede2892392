#include "fleet/validation.hpp"

#include "fleetd/error.hpp"
#include "fleetd/fleet_config.hpp"
#include "fleet/json_text.hpp"
#include "fleet/queue_settings.hpp"
#include "fleet/text.hpp"
#include "fleet/time_text.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <string_view>
#include <unordered_set>

namespace fleet {

namespace {

caf::error task_error(errc code, size_t index, const task& t, std::string_view what) {
  return caf::make_error(code, fmt::format("task {} (id {}): {}", index, quoted_input(t.id), what));
}

} // namespace

caf::error duplicate_task_id_error(int64_t position, std::string_view id) {
  return caf::make_error(errc::duplicate_task_id,
                         fmt::format("task {} (id {}): duplicate task id in this batch", position, quoted_input(id)));
}

caf::error validate_batch_size(size_t n, const submit_limits& limits) {
  if (n > limits.max_tasks_per_batch)
    return caf::make_error(errc::invalid_batch,
                           fmt::format("batch has {} tasks, more than the limit of {} (fleet.max-batch-tasks)",
                                       n, limits.max_tasks_per_batch));
  return caf::none;
}

caf::error validate_pending_batches(int64_t unfinished, const submit_limits& limits) {
  if (unfinished >= limits.max_pending_batches)
    return caf::make_error(errc::limit_exceeded,
                           fmt::format("{} batches are unfinished, the limit (fleet.max-pending-batches) "
                                       "is {}: wait for some to finish or cancel them",
                                       unfinished, limits.max_pending_batches));
  return caf::none;
}

std::string policy_problem(const task_policy& p) {
  using namespace config_bounds;
  if (p.timeout_ms != 0 && (p.timeout_ms < 1 || p.timeout_ms > max_duration_ms))
    return fmt::format("timeout_ms {} is out of range: between 1 and {} ms (or absent: the fleet's worker_timeout)",
                       p.timeout_ms, max_duration_ms);
  if (p.max_retries != -1 && (p.max_retries < 0 || p.max_retries > config_bounds::max_retries))
    return fmt::format("max_retries {} is out of range: between 0 and {} (or absent: the fleet's)", p.max_retries,
                       config_bounds::max_retries);
  if (p.backoff_ms != -1 && (p.backoff_ms < 0 || p.backoff_ms > max_duration_ms))
    return fmt::format("backoff_ms {} is out of range: between 0 and {} ms (or absent: the fleet's backoff_base)",
                       p.backoff_ms, max_duration_ms);
  if (p.retry < -1 || p.retry > 1)
    return fmt::format("retry {} is neither true nor false", p.retry);
  if (p.retry == 0 && p.max_retries > 0)
    return fmt::format("retry is false but max_retries is {}: give one of them", p.max_retries);
  if (p.retry == 1 && p.max_retries == 0)
    return "retry is true but max_retries is 0: give one of them";
  return {};
}

caf::error validate_batch(const std::vector<task>& tasks, const task_type_check& check,
                          const submit_limits& limits) {
  if (tasks.empty())
    return caf::make_error(errc::invalid_batch, "batch is empty: submit at least one task");
  if (auto err = validate_batch_size(tasks.size(), limits))
    return err;
  std::unordered_set<std::string_view> ids;
  ids.reserve(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    const auto& t = tasks[i];
    if (t.id.empty())
      return task_error(errc::invalid_task, i, t, "id is empty");
    if (t.id.size() > limits.max_id_bytes)
      return task_error(errc::invalid_task, i, t,
                        fmt::format("id is longer than {} bytes (fleet.max-id-length)", limits.max_id_bytes));
    if (!is_utf8(t.id)) // not echoed: the message may end up in JSON too
      return caf::make_error(errc::invalid_task, fmt::format("task {}: id is not valid UTF-8", i));
    if (!ids.insert(t.id).second)
      return duplicate_task_id_error(static_cast<int64_t>(i), t.id);
    if (t.type.empty())
      return task_error(errc::invalid_task, i, t, "type is empty");
    if (t.type.size() > limits.max_type_bytes)
      return task_error(errc::invalid_task, i, t,
                        fmt::format("type is longer than {} bytes", limits.max_type_bytes));
    if (!is_utf8(t.type))
      return task_error(errc::invalid_task, i, t, "type is not valid UTF-8");
    if (t.data.size() > limits.max_data_bytes)
      return task_error(errc::oversize_data, i, t,
                        fmt::format("data is {} bytes, more than the limit of {} (fleet.max-task-data)",
                                    t.data.size(), limits.max_data_bytes));
    if (json_nesting(t.data) > max_json_nesting)
      return task_error(errc::invalid_task, i, t,
                        fmt::format("data nests arrays and objects deeper than {} levels", max_json_nesting));
    auto data = nlohmann::json::parse(t.data, nullptr, false);
    if (data.is_discarded())
      return task_error(errc::invalid_task, i, t, "data is not valid JSON");
    if (auto problem = policy_problem(t.policy); !problem.empty())
      return task_error(errc::invalid_task, i, t, problem);
    if (!t.queue.empty())
      if (auto problem = queue_name_problem(t.queue); !problem.empty())
        return task_error(errc::invalid_task, i, t, problem);
    if (auto problem = group_problem(t.group); !problem.empty())
      return task_error(errc::invalid_task, i, t, problem);
    if (check) {
      if (auto err = check(t, data))
        return task_error(static_cast<errc>(err.code()), i, t, error_text(err));
    }
  }
  return caf::none;
}

caf::error validate_start_times(const std::vector<task>& tasks, int64_t now, const submit_limits& limits) {
  auto limit_text = [&] { return format_duration_ms(limits.max_delay_ms); };
  for (size_t i = 0; i < tasks.size(); ++i) {
    const auto& t = tasks[i];
    if (t.run_at == 0 && t.delay_ms == 0)
      continue;
    if (t.run_at != 0 && t.delay_ms != 0)
      return task_error(errc::invalid_task, i, t, "run_at and delay_ms are both set: give one of them");
    if (t.delay_ms < 0)
      return task_error(errc::invalid_task, i, t, fmt::format("delay_ms is negative ({})", t.delay_ms));
    if (t.delay_ms > limits.max_delay_ms)
      return task_error(errc::invalid_task, i, t,
                        fmt::format("delay_ms {} is longer than fleet.max-delay ({})", t.delay_ms, limit_text()));
    if (t.run_at == 0)
      continue;
    if (t.run_at < now - max_run_at_lag_ms)
      return task_error(errc::invalid_task, i, t,
                        fmt::format("run_at {} ({}) is more than an hour in the past (now {}): is a clock "
                                    "wrong, or is it in seconds instead of milliseconds?",
                                    t.run_at, format_rfc3339_ms(t.run_at), format_rfc3339_ms(now)));
    if (t.run_at - now > limits.max_delay_ms)
      return task_error(errc::invalid_task, i, t,
                        fmt::format("run_at {} ({}) is further away than fleet.max-delay ({})", t.run_at,
                                    format_rfc3339_ms(t.run_at), limit_text()));
  }
  return caf::none;
}

int64_t start_time(const task& t, int64_t now) {
  if (t.run_at != 0)
    return t.run_at;
  return now + t.delay_ms;
}

caf::error validate_client_key(const std::string& key, const submit_limits& limits) {
  if (key.size() > limits.max_id_bytes)
    return caf::make_error(errc::invalid_batch,
                           fmt::format("the batch key has {} bytes, more than fleet.max-id-length ({})",
                                       key.size(), limits.max_id_bytes));
  for (unsigned char c : key)
    if (c < 0x20 || c == 0x7f)
      return caf::make_error(errc::invalid_batch, "the batch key contains a control character");
  return caf::none;
}

} // namespace fleet
