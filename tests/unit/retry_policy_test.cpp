#include "fleet/retry_policy.hpp"

#include <doctest/doctest.h>

using namespace fleet;

TEST_CASE("backoff doubles from the base up to the cap") {
  fleet_config cfg; // 1000 ms, x2, cap 30000 ms
  std::vector<int64_t> ceilings;
  for (int n = 1; n <= 7; ++n)
    ceilings.push_back(backoff_ceiling_ms(cfg, n));
  CHECK(ceilings == std::vector<int64_t>{1000, 2000, 4000, 8000, 16000, 30000, 30000});
  CHECK(backoff_ceiling_ms(cfg, 1000) == 30000); // no overflow for huge attempt numbers
}

TEST_CASE("jitter keeps the delay between half the ceiling and the ceiling") {
  fleet_config cfg;
  CHECK(backoff_delay_ms(cfg, 1, 0.0) == 500);
  CHECK(backoff_delay_ms(cfg, 1, 0.5) == 750);
  CHECK(backoff_delay_ms(cfg, 1, 0.999999) == 1000);
  CHECK(backoff_delay_ms(cfg, 3, 0.0) == 2000);
  CHECK(backoff_delay_ms(cfg, 10, 1.0) == 30000);
  CHECK(backoff_delay_ms(cfg, 2, -4.0) == 1000); // out-of-range randomness is clamped
}

TEST_CASE("retries happen while enabled and below max_retries") {
  fleet_config cfg; // retry on, max 3
  CHECK(should_retry(cfg, 1));
  CHECK(should_retry(cfg, 3));
  CHECK_FALSE(should_retry(cfg, 4));
  cfg.retry_failed_tasks = false;
  CHECK_FALSE(should_retry(cfg, 1));
  cfg.retry_failed_tasks = true;
  cfg.max_retries = 0;
  CHECK_FALSE(should_retry(cfg, 1));
}
