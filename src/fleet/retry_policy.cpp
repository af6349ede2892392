#include "fleet/retry_policy.hpp"

#include <algorithm>
#include <cmath>

namespace fleet {

fleet_config effective_config(fleet_config cfg, const task_policy& policy) {
  if (policy.timeout_ms > 0)
    cfg.worker_timeout_ms = policy.timeout_ms;
  if (policy.max_retries >= 0)
    cfg.max_retries = policy.max_retries;
  if (policy.backoff_ms >= 0) {
    cfg.backoff_base_ms = policy.backoff_ms;
    cfg.backoff_cap_ms = std::max(cfg.backoff_cap_ms, policy.backoff_ms);
  }
  if (policy.retry >= 0)
    cfg.retry_failed_tasks = policy.retry == 1;
  return cfg;
}

bool should_retry(const fleet_config& cfg, int32_t counted_attempts) {
  return cfg.retry_failed_tasks && counted_attempts <= cfg.max_retries;
}

int64_t backoff_ceiling_ms(const fleet_config& cfg, int32_t n) {
  auto exponent = std::max(0, n - 1);
  // pow in floating point saturates instead of overflowing; the cap clamps it.
  auto raw = static_cast<double>(cfg.backoff_base_ms) * std::pow(cfg.backoff_factor, exponent);
  auto cap = static_cast<double>(cfg.backoff_cap_ms);
  return static_cast<int64_t>(std::min(raw, cap));
}

int64_t backoff_delay_ms(const fleet_config& cfg, int32_t n, double unit_random) {
  auto ceiling = backoff_ceiling_ms(cfg, n);
  auto half = ceiling / 2;
  auto u = std::clamp(unit_random, 0.0, 1.0);
  return half + static_cast<int64_t>(std::llround(u * static_cast<double>(ceiling - half)));
}

} // namespace fleet
