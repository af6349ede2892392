#include "fleet/autoscale.hpp"

#include "fleetd/error.hpp"
#include "fleetd/fleet_config.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace fleet {

int32_t autoscale_target(const autoscale_policy& policy, const autoscale_input& in) {
  auto clamp = [&](int64_t n) {
    return static_cast<int32_t>(std::clamp<int64_t>(n, policy.min_workers, policy.max_workers));
  };
  auto per_running = static_cast<double>(in.waiting) / static_cast<double>(std::max<int64_t>(in.running, 1));
  auto busy = in.running >= in.limit;
  if (busy && per_running > policy.up_ratio)
    return clamp(policy.up_step > 0 ? int64_t{in.limit} + policy.up_step : int64_t{in.limit} * 2);
  auto shrink = policy.down_ratio > 0 ? per_running < policy.down_ratio
                                      : in.waiting == 0 && in.idle_for_ms >= policy.idle_ms;
  if (shrink)
    return clamp(policy.down_step > 0 ? int64_t{in.limit} - policy.down_step : in.limit / 2);
  return clamp(in.limit);
}

caf::error validate(const autoscale_policy& policy) {
  auto bad = [](std::string text) { return caf::make_error(errc::invalid_config, std::move(text)); };
  if (policy.min_workers < 1 || policy.min_workers > config_bounds::max_workers)
    return bad(fmt::format("autoscale-min must be between 1 and {} (got {})", config_bounds::max_workers,
                           policy.min_workers));
  if (policy.max_workers < policy.min_workers || policy.max_workers > config_bounds::max_workers)
    return bad(fmt::format("autoscale-max must be between autoscale-min ({}) and {} (got {})",
                           policy.min_workers, config_bounds::max_workers, policy.max_workers));
  if (!(policy.up_ratio >= 0.1 && policy.up_ratio <= 1000))
    return bad(fmt::format("autoscale-up-ratio must be between 0.1 and 1000 (got {})", policy.up_ratio));
  if (!(policy.down_ratio >= 0 && policy.down_ratio < policy.up_ratio))
    return bad(fmt::format("autoscale-down-ratio must be at least 0 and below autoscale-up-ratio ({}) (got {})",
                           policy.up_ratio, policy.down_ratio));
  if (policy.up_step < 0 || policy.up_step > config_bounds::max_workers || policy.down_step < 0
      || policy.down_step > config_bounds::max_workers)
    return bad(fmt::format("autoscale-up-step and autoscale-down-step must be between 0 and {} (got {} and {})",
                           config_bounds::max_workers, policy.up_step, policy.down_step));
  if (policy.idle_ms < 0 || policy.idle_ms > config_bounds::max_duration_ms)
    return bad(fmt::format("autoscale-idle must be between 0 and {} ms (got {})", config_bounds::max_duration_ms,
                           policy.idle_ms));
  if (policy.interval_ms < 1 || policy.interval_ms > 3'600'000)
    return bad(fmt::format("the autoscale interval must be between 1 and 3600000 ms (got {})", policy.interval_ms));
  return caf::none;
}

} // namespace fleet
