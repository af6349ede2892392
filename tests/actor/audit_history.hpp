#pragma once

// The history the audit queries of docs/AUDIT.md and docs/AUDIT-POSTGRES.md are tried on.

#include "doc_queries.hpp"
#include "fleet_fixture.hpp"

#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

namespace fleet::test {

/// A task of the built-in "fail" type: it fails `times` attempts, or always when negative.
inline task failing(std::string id, int times) {
  return make_task(std::move(id), "fail", times < 0 ? R"({"error":"always"})"
                                                    : R"({"times":)" + std::to_string(times) + "}");
}

struct audit_batches {
  std::string a; ///< flaky (fails once), x (always fails: a dead letter, replayed, fails again), e
  std::string b; ///< s: running when cancelled
  std::string c; ///< long: still running at the end
};

/// Builds the history on a started manager with max_retries 1 that checks the wall clock every
/// second: retries, a dead letter replayed, a cancel, a scale to 3, a task still running, a paused
/// schedule, and a step of the wall clock back by a minute.
inline audit_batches build_audit_history(fleet_fixture& f) {
  audit_batches out;
  // A: flaky fails once then succeeds; x fails twice (failed for good), is replayed, fails twice again.
  out.a = f.submit_ok({failing("flaky", 1), failing("x", -1), make_task("e", "echo")});
  REQUIRE(f.advance_until([&] { return f.finished(out.a); }));
  f.advance(1000);
  REQUIRE(*f.ask<int64_t>(replay_atom::value, out.a, std::vector<std::string>{"x"}) == 1);
  REQUIRE(f.advance_until([&] { return f.finished(out.a); }));
  // B: one running attempt stopped by a cancel; then the fleet is scaled to 3.
  f.advance(1000);
  out.b = f.submit_ok({make_task("s", "sleep", R"({"ms": 600000})")});
  f.advance(10);
  REQUIRE(*f.ask<bool>(cancel_atom::value, out.b));
  REQUIRE(f.ask<fleet_config>(scale_atom::value, int32_t{3}));
  f.run();
  // C: runs at the end.
  auto long_task = make_task("long", "sleep", R"({"ms": 600000})");
  long_task.policy.timeout_ms = 3'600'000;
  out.c = f.submit_ok({long_task});
  f.advance(10);
  // A schedule, added and paused before its first slot.
  schedule_spec nightly;
  nightly.name = "nightly";
  nightly.cron = "0 3 * * *";
  nightly.time_zone = "Europe/Berlin";
  nightly.tasks = {make_task("report", "echo")};
  REQUIRE(f.ask<schedule_info>(schedule_add_atom::value, nightly, false));
  REQUIRE(f.ask<bool>(schedule_pause_atom::value, std::string{"nightly"}, true) == true);
  // The wall clock steps back by a minute.
  f.step_wall_clock(-60'000);
  f.advance(1000);
  return out;
}

} // namespace fleet::test
