#pragma once

#include "fleetd/submit_limits.hpp"
#include "fleetd/task_check.hpp"
#include "fleetd/task.hpp"

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>
#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace fleet {

/// The error for a submit when `unfinished` batches already wait or run, none otherwise.
caf::error validate_pending_batches(int64_t unfinished, const submit_limits& limits);

/// The error for a batch of `n` tasks above the limit, none otherwise (also for uploads in chunks).
caf::error validate_batch_size(size_t n, const submit_limits& limits);

/// errc::duplicate_task_id for the task at `position` in its batch, whose id came before.
caf::error duplicate_task_id_error(int64_t position, std::string_view id);

/// A client key for an idempotent submit: empty (no key), or up to max_id_bytes without control
/// characters. `errc::invalid_batch` otherwise.
caf::error validate_client_key(const std::string& key, const submit_limits& limits = {});

/// What is wrong with a task's policy (its fields out of the bounds of the fleet's configuration,
/// or `retry` contradicting `max_retries`), empty if nothing.
std::string policy_problem(const task_policy& p);

/// Validates a whole batch before anything is stored: not empty, every id and type present and
/// within limits, ids unique, data valid JSON within the size limit, policies within bounds,
/// accepted by `check`.
/// The error names the offending task by index and id.
caf::error validate_batch(const std::vector<task>& tasks, const task_type_check& check,
                          const submit_limits& limits = {});

/// How far in the past a task's run_at may lie: a clock that is off by more, or a time written in
/// seconds instead of ms, is refused rather than run at once.
inline constexpr int64_t max_run_at_lag_ms = 3'600'000;

/// The start times of a batch about to be stored at `now`: run_at and delay_ms not negative and
/// not both set, run_at no more than max_run_at_lag_ms in the past, and neither beyond
/// fleet.max-delay from now. The error names the task by index and id.
caf::error validate_start_times(const std::vector<task>& tasks, int64_t now, const submit_limits& limits = {});

/// When `t`, stored at `now`, may start: its run_at, now + its delay_ms, or now.
int64_t start_time(const task& t, int64_t now);

} // namespace fleet
