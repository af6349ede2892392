#include "fleet/autoscale.hpp"

#include <doctest/doctest.h>

using namespace fleet;

TEST_CASE("the autoscaling policy doubles under a backlog, halves when idle, stays within bounds") {
  autoscale_policy p;
  p.enabled = true;
  p.min_workers = 2;
  p.max_workers = 10;
  p.up_ratio = 2.0;
  p.idle_ms = 5000;
  // A backlog on a fully used fleet: double, but never past max.
  CHECK(autoscale_target(p, {100, 4, 4, 0}) == 8);
  CHECK(autoscale_target(p, {100, 8, 8, 0}) == 10);
  CHECK(autoscale_target(p, {100, 10, 10, 0}) == 10);
  // Waiting tasks, but not more than up_ratio per running attempt: unchanged.
  CHECK(autoscale_target(p, {8, 4, 4, 0}) == 4);
  // Slots free (the limit is not the bottleneck): unchanged.
  CHECK(autoscale_target(p, {100, 2, 4, 0}) == 4);
  // Idle long enough: halve, never below min.
  CHECK(autoscale_target(p, {0, 0, 8, 5000}) == 4);
  CHECK(autoscale_target(p, {0, 0, 3, 9000}) == 2);
  CHECK(autoscale_target(p, {0, 0, 8, 4999}) == 8);
  // A limit set outside the bounds (scale_workers) is brought back in.
  CHECK(autoscale_target(p, {0, 0, 50, 0}) == 10);
  CHECK(autoscale_target(p, {0, 0, 1, 0}) == 2);
}

TEST_CASE("the seed's additive policy as configuration: up 5 above 2x, down 3 below 0.5x, between 5 and 50") {
  autoscale_policy p;
  p.enabled = true;
  p.min_workers = 5;
  p.max_workers = 50;
  p.up_ratio = 2.0;
  p.up_step = 5;
  p.down_ratio = 0.5;
  p.down_step = 3;
  CHECK_FALSE(validate(p));
  CHECK(autoscale_target(p, {100, 10, 10, 0}) == 15);
  CHECK(autoscale_target(p, {100, 48, 48, 0}) == 50);
  CHECK(autoscale_target(p, {21, 10, 10, 0}) == 15);  // 2.1 per running: up
  CHECK(autoscale_target(p, {20, 10, 10, 0}) == 10);  // exactly 2: unchanged
  CHECK(autoscale_target(p, {10, 10, 20, 0}) == 20);  // between the ratios: unchanged
  CHECK(autoscale_target(p, {4, 10, 20, 0}) == 17);   // 0.4 per running: down, without waiting for idle
  CHECK(autoscale_target(p, {0, 0, 20, 0}) == 17);    // nothing at all: down too
  CHECK(autoscale_target(p, {0, 0, 6, 0}) == 5);      // never below the minimum
}

TEST_CASE("autoscaling settings out of range are refused") {
  autoscale_policy p;
  CHECK_FALSE(validate(p));
  p.min_workers = 0;
  CHECK(validate(p));
  p.min_workers = 5;
  p.max_workers = 4;
  CHECK(validate(p));
  p.max_workers = 8;
  p.up_ratio = 0;
  CHECK(validate(p));
  p.up_ratio = 2;
  p.idle_ms = -1;
  CHECK(validate(p));
  p.idle_ms = 0;
  p.down_ratio = 2; // must stay below up_ratio, or the policy would grow and shrink at once
  CHECK(validate(p));
  p.down_ratio = 0.5;
  CHECK_FALSE(validate(p));
  p.up_step = -1;
  CHECK(validate(p));
  p.up_step = 5;
  p.down_step = 100'001;
  CHECK(validate(p));
}
