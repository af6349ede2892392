#include "fleet/fleet_config.hpp"

#include "fleet/error.hpp"

#include <fmt/format.h>

#include <cmath>

namespace fleet {

namespace {

// Upper bounds that keep arithmetic far from overflow and catch unit mistakes (seconds vs ms).
constexpr int64_t max_workers = 100000;
constexpr int64_t max_timeout_ms = int64_t{7} * 24 * 3600 * 1000;
constexpr int64_t max_retry_count = 1000;

caf::error out_of_range(const char* field, auto value, const char* rule) {
  return caf::make_error(errc::invalid_config, fmt::format("{} must be {} (got {})", field, rule, value));
}

} // namespace

bool operator==(const fleet_config& x, const fleet_config& y) {
  return x.max_concurrent_workers == y.max_concurrent_workers
         && x.worker_timeout_ms == y.worker_timeout_ms
         && x.retry_failed_tasks == y.retry_failed_tasks && x.max_retries == y.max_retries
         && x.backoff_base_ms == y.backoff_base_ms && x.backoff_factor == y.backoff_factor
         && x.backoff_cap_ms == y.backoff_cap_ms;
}

caf::error validate_worker_count(int64_t n) {
  if (n < 1)
    return caf::make_error(errc::invalid_config, fmt::format("worker count must be at least 1 (got {})", n));
  if (n > max_workers)
    return caf::make_error(errc::invalid_config,
                           fmt::format("worker count must be at most {} (got {})", max_workers, n));
  return caf::none;
}

caf::error validate(const fleet_config& cfg) {
  if (auto err = validate_worker_count(cfg.max_concurrent_workers))
    return caf::make_error(errc::invalid_config,
                           "max_concurrent_workers: " + error_text(err));
  if (cfg.worker_timeout_ms < 1 || cfg.worker_timeout_ms > max_timeout_ms)
    return out_of_range("worker_timeout", cfg.worker_timeout_ms, "between 1 and 604800000 ms");
  if (cfg.max_retries < 0 || cfg.max_retries > max_retry_count)
    return out_of_range("max_retries", cfg.max_retries, "between 0 and 1000");
  if (cfg.backoff_base_ms < 0 || cfg.backoff_base_ms > max_timeout_ms)
    return out_of_range("backoff_base", cfg.backoff_base_ms, "between 0 and 604800000 ms");
  if (!std::isfinite(cfg.backoff_factor) || cfg.backoff_factor < 1.0 || cfg.backoff_factor > 100.0)
    return out_of_range("backoff_factor", cfg.backoff_factor, "between 1 and 100");
  if (cfg.backoff_cap_ms < cfg.backoff_base_ms || cfg.backoff_cap_ms > max_timeout_ms)
    return out_of_range("backoff_cap", cfg.backoff_cap_ms, "at least backoff_base and at most 604800000 ms");
  return caf::none;
}

caf::expected<fleet_config> apply(fleet_config cfg, const config_update& update) {
  if (update.max_concurrent_workers)
    cfg.max_concurrent_workers = *update.max_concurrent_workers;
  if (update.worker_timeout_ms)
    cfg.worker_timeout_ms = *update.worker_timeout_ms;
  if (update.retry_failed_tasks)
    cfg.retry_failed_tasks = *update.retry_failed_tasks;
  if (update.max_retries)
    cfg.max_retries = *update.max_retries;
  if (update.backoff_base_ms)
    cfg.backoff_base_ms = *update.backoff_base_ms;
  if (update.backoff_factor)
    cfg.backoff_factor = *update.backoff_factor;
  if (update.backoff_cap_ms)
    cfg.backoff_cap_ms = *update.backoff_cap_ms;
  if (auto err = validate(cfg))
    return err;
  return cfg;
}

} // namespace fleet
