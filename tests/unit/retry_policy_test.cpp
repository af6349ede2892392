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

TEST_CASE("a task's policy replaces the fleet's fields it sets, and only those") {
  fleet_config fleet; // timeout 300 s, retry on, max 3, backoff 1 s doubling up to 30 s
  CHECK(effective_config(fleet, task_policy{}) == fleet);
  auto own = effective_config(fleet, task_policy{50, 0, -1, -1});
  CHECK(own.worker_timeout_ms == 50);
  CHECK(own.max_retries == 0);
  CHECK_FALSE(should_retry(own, 1));
  CHECK(own.backoff_base_ms == fleet.backoff_base_ms);
  // A backoff above the fleet's cap raises the cap: the first retry waits what the task asked.
  auto slow = effective_config(fleet, task_policy{0, -1, 60'000, -1});
  CHECK(slow.backoff_base_ms == 60'000);
  CHECK(backoff_ceiling_ms(slow, 1) == 60'000);
  CHECK(backoff_ceiling_ms(slow, 3) == 60'000);
  CHECK(slow.worker_timeout_ms == fleet.worker_timeout_ms);
  auto quick = effective_config(fleet, task_policy{0, -1, 0, -1});
  CHECK(backoff_delay_ms(quick, 2, 0.99) == 0);
  // retry: false stops retries whatever the fleet says; true retries with the fleet's retries off.
  CHECK_FALSE(should_retry(effective_config(fleet, task_policy{0, -1, -1, 0}), 1));
  fleet.retry_failed_tasks = false;
  auto forced = effective_config(fleet, task_policy{0, -1, -1, 1});
  CHECK(should_retry(forced, 3));
  CHECK_FALSE(should_retry(forced, 4));
}
