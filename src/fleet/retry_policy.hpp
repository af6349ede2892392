#pragma once

#include "fleetd/fleet_config.hpp"
#include "fleetd/task.hpp"

#include <cstdint>

namespace fleet {

/// The configuration one task runs under: the fleet's, with each field that the task's policy sets
/// in its place (a policy's backoff raises the cap to itself if the fleet's is lower, so that the
/// task's first retry waits what it asked for).
fleet_config effective_config(fleet_config fleet, const task_policy& policy);

/// True if a task whose `counted_attempts`-th attempt just failed gets another one.
/// Interrupted attempts (crash, shutdown) are not counted.
bool should_retry(const fleet_config& cfg, int32_t counted_attempts);

/// The backoff ceiling after the n-th failed attempt (n >= 1): base * factor^(n-1), capped.
int64_t backoff_ceiling_ms(const fleet_config& cfg, int32_t n);

/// The delay before the next attempt after the n-th failure, with "equal jitter":
/// uniform in [ceiling/2, ceiling], `unit_random` in [0, 1) picking the point.
/// Jitter keeps many tasks that failed together from retrying in lock step.
int64_t backoff_delay_ms(const fleet_config& cfg, int32_t n, double unit_random);

} // namespace fleet
