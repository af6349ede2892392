// Prometheus metrics (issue 7): histogram buckets, what an attempt's end counts, and the text
// exposition format.

#include "fleet/metrics.hpp"
#include "fleetd/version.hpp"

#include <doctest/doctest.h>

#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>

using namespace fleet;

namespace {

/// name{labels} -> value of every sample line; checks each line's shape on the way.
std::map<std::string, std::string> samples(const std::string& text) {
  static const std::regex sample{R"(^([a-z_]+(\{[a-z_]+="[^"]*"\})?) (-?[0-9.e+-]+)$)"};
  static const std::regex comment{R"(^# (HELP|TYPE) [a-z_]+ .+$)"};
  std::map<std::string, std::string> out;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, sample))
      out[m[1]] = m[3];
    else
      CHECK_MESSAGE(std::regex_match(line, comment), "not exposition format: ", line);
  }
  return out;
}

} // namespace

TEST_CASE("a histogram counts each observation in its bucket, cumulatively, with the sum") {
  histogram h{{0.001, 0.01, 0.1}};
  h.observe_us(500);   // <= 1 ms
  h.observe_us(1000);  // on the bound: still <= 1 ms
  h.observe_ms(5);     // <= 10 ms
  h.observe_ms(2000);  // +Inf
  h.observe_us(-3);    // a clock step backwards counts as 0
  auto s = h.read();
  REQUIRE(s.cumulative.size() == 4);
  CHECK(s.cumulative[0] == 3);
  CHECK(s.cumulative[1] == 4);
  CHECK(s.cumulative[2] == 4);
  CHECK(s.cumulative[3] == 5);
  CHECK(s.sum_s == doctest::Approx(0.0005 + 0.001 + 0.005 + 2.0));
  CHECK_THROWS_AS(histogram({0.1, 0.01}), std::invalid_argument);
}

TEST_CASE("an attempt's end counts by where the task goes, and its duration only if it ran its course") {
  fleet_metrics m;
  attempt_ended end;
  end.duration_ms = 20;
  end.outcome = attempt_outcome::succeeded;
  end.next = task_disposition::succeeded;
  m.count(end);
  end.outcome = attempt_outcome::timed_out;
  end.next = task_disposition::retry;
  m.count(end);
  end.outcome = attempt_outcome::failed;
  end.next = task_disposition::failed;
  m.count(end);
  end.outcome = attempt_outcome::cancelled;
  end.next = task_disposition::cancelled;
  m.count(end);
  end.outcome = attempt_outcome::interrupted;
  end.next = task_disposition::requeue;
  m.count(end);
  CHECK(m.tasks_succeeded.value() == 1);
  CHECK(m.tasks_retried.value() == 1);
  CHECK(m.tasks_failed.value() == 1);
  CHECK(m.tasks_cancelled.value() == 1);
  CHECK(m.tasks_interrupted.value() == 1);
  CHECK(m.attempt_duration.read().cumulative.back() == 3);
}

TEST_CASE("the exposition is Prometheus text format, with gauges only when the manager answered") {
  fleet_metrics m;
  m.tasks_submitted.add(7);
  m.tasks_succeeded.add(5);
  m.storage_writable.set(1);
  m.nodes.set(3);
  m.sqlite_commit.observe_us(700);
  m.sqlite_commit.observe_us(3000);
  fleet_stats st;
  st.pending_tasks = 2;
  st.running_tasks = 1;
  st.max_concurrent_workers = 16;
  auto with = samples(render_prometheus(m, &st));
  CHECK(with.at("fleetd_tasks_submitted_total") == "7");
  CHECK(with.at("fleetd_tasks_succeeded_total") == "5");
  CHECK(with.at("fleetd_tasks_failed_total") == "0");
  CHECK(with.at("fleetd_tasks_pending") == "2");
  CHECK(with.at("fleetd_tasks_running") == "1");
  CHECK(with.at("fleetd_workers_limit") == "16");
  CHECK(with.at("fleetd_nodes") == "3");
  CHECK(with.at("fleetd_storage_writable") == "1");
  CHECK(with.at("fleetd_sqlite_commit_seconds_bucket{le=\"0.0005\"}") == "0");
  CHECK(with.at("fleetd_sqlite_commit_seconds_bucket{le=\"0.001\"}") == "1");
  CHECK(with.at("fleetd_sqlite_commit_seconds_bucket{le=\"0.005\"}") == "2");
  CHECK(with.at("fleetd_sqlite_commit_seconds_bucket{le=\"+Inf\"}") == "2");
  CHECK(with.at("fleetd_sqlite_commit_seconds_count") == "2");
  CHECK(std::stod(with.at("fleetd_sqlite_commit_seconds_sum")) == doctest::Approx(0.0037));
  CHECK(with.count("fleetd_build_info{version=\"" FLEETD_VERSION "\"}") == 1);
  auto without = samples(render_prometheus(m, nullptr));
  CHECK(without.count("fleetd_tasks_pending") == 0);
  CHECK(without.at("fleetd_tasks_submitted_total") == "7");
  CHECK(without.at("fleetd_manager_up") == "0");
  CHECK(with.at("fleetd_manager_up") == "1");
  // Each metric has its TYPE line once.
  auto text = render_prometheus(m, &st);
  CHECK(text.find("# TYPE fleetd_queue_wait_seconds histogram\n") != std::string::npos);
  CHECK(text.find("# TYPE fleetd_tasks_submitted_total counter\n") != std::string::npos);
  CHECK(text.find("# TYPE fleetd_tasks_pending gauge\n") != std::string::npos);
}
