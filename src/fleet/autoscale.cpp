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
  auto busy = in.running >= in.limit;
  if (busy && static_cast<double>(in.waiting) > policy.up_ratio * static_cast<double>(std::max<int64_t>(in.running, 1)))
    return clamp(int64_t{in.limit} * 2);
  if (in.waiting == 0 && in.idle_for_ms >= policy.idle_ms)
    return clamp(in.limit / 2);
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
  if (policy.idle_ms < 0 || policy.idle_ms > config_bounds::max_duration_ms)
    return bad(fmt::format("autoscale-idle must be between 0 and {} ms (got {})", config_bounds::max_duration_ms,
                           policy.idle_ms));
  if (policy.interval_ms < 1 || policy.interval_ms > 3'600'000)
    return bad(fmt::format("the autoscale interval must be between 1 and 3600000 ms (got {})", policy.interval_ms));
  return caf::none;
}

} // namespace fleet
