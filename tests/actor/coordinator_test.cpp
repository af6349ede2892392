// The seed's extension pattern: a worker that reports its own result to the coordinator
// (coordinator.submitResult(workerId, result)), counted exactly once.

#include "fleet_fixture.hpp"

#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

using namespace fleet;
using namespace fleet::test;

namespace {

/// Reports its outcome to the coordinator first; once that is accepted it also replies (with
/// another result, which must not count), unless `silent`, where it never replies at all.
worker_actor::behavior_type reporting_worker(worker_actor::pointer self, attempt_info info, bool silent) {
  return {
    [self, info, silent](execute_atom, const task& t, int32_t) -> caf::result<task_outcome> {
      auto rp = self->make_response_promise<task_outcome>();
      auto reported = success(nlohmann::json{{"reported_by", info.worker_id}, {"task", t.id}}.dump());
      self->request(info.coordinator, caf::infinite, submit_result_atom::value, info.worker_id, reported)
        .then([self, rp, silent](bool accepted) mutable {
          if (silent)
            return;
          rp.deliver(success(nlohmann::json{{"replied", accepted}}.dump()));
          self->quit();
        });
      return rp;
    },
  };
}

result_summary summary_of(fleet_fixture& f) {
  auto coord = f.ask<coordinator_actor>(coordinator_atom::value);
  REQUIRE(coord);
  caf::scoped_actor self{f.sys()};
  std::optional<result_summary> out;
  auto rh = self->request(*coord, caf::infinite, summary_atom::value);
  f.run();
  rh.receive([&](result_summary& s) { out = s; }, [&](caf::error& err) { FAIL(error_text(err)); });
  return *out;
}

} // namespace

TEST_CASE("a worker that reports its result to the coordinator: the report is the outcome, counted once") {
  fleet_fixture f;
  f.registry().add("report", [](caf::actor_system& sys, const attempt_info& info) {
    return sys.spawn(reporting_worker, info, false);
  });
  f.registry().add("report-only", [](caf::actor_system& sys, const attempt_info& info) {
    return sys.spawn(reporting_worker, info, true);
  });
  f.start();
  auto id = f.submit_ok({make_task("a", "report"), make_task("b", "report-only"), make_task("c", "echo")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto rs = f.results_of(id);
  REQUIRE(rs.size() == 3);
  for (const auto& r : rs) {
    CAPTURE(r.task_id);
    CHECK(r.success);
    CHECK(r.attempts == 1);
  }
  CHECK(nlohmann::json::parse(rs[0].result).at("task") == "a");
  CHECK(nlohmann::json::parse(rs[0].result).contains("reported_by"));
  CHECK(nlohmann::json::parse(rs[1].result).at("task") == "b");
  // Three results, three counted: the reports and the managers' own reporting never add up twice.
  auto s = summary_of(f);
  CHECK(s.total_results == 3);
  CHECK(s.success_count == 3);
  CHECK(f.query_int("SELECT count(*) FROM attempts") == 3);
  // The worker that never replied was stopped once its report was stored.
  CHECK(f.stats().active_workers == 0);
  REQUIRE(f.advance_until([&] {
    auto ws = f.ask<std::vector<worker_info>>(workers_atom::value);
    return ws && std::none_of(ws->begin(), ws->end(), [](const worker_info& w) { return w.status == worker_status::active; });
  }));
}

TEST_CASE("only an attempt's own worker may report its result, and a second report counts nothing") {
  fleet_fixture f;
  f.start();
  auto id = f.submit_ok({make_task("slow", "sleep", R"({"ms": 60000})")});
  f.run();
  auto ws = f.ask<std::vector<worker_info>>(workers_atom::value);
  REQUIRE(ws);
  REQUIRE(ws->size() == 1);
  auto worker_id = ws->front().worker_id;
  auto coord = f.ask<coordinator_actor>(coordinator_atom::value);
  REQUIRE(coord);
  auto report = [&](const std::string& who) {
    caf::scoped_actor self{f.sys()};
    std::optional<caf::expected<bool>> out;
    auto rh = self->request(*coord, caf::infinite, submit_result_atom::value, who, success("{\"forged\":true}"));
    f.run();
    rh.receive([&](bool accepted) { out = accepted; }, [&](caf::error& err) { out = std::move(err); });
    return std::move(*out);
  };
  // Someone else (here the test) reporting for the running attempt: refused, nothing changes.
  auto forged = report(worker_id);
  REQUIRE_FALSE(forged);
  CHECK(forged.error() == errc::not_permitted);
  CHECK(f.status_of(id).completed == 0);
  // An attempt that is not running (unknown or ended): nothing to decide, nothing counted.
  auto unknown = report("w-nobody");
  REQUIRE(unknown);
  CHECK_FALSE(*unknown);
  auto cancelled = f.ask<bool>(cancel_atom::value, id);
  REQUIRE(cancelled);
  CHECK(*cancelled);
  f.run();
  auto late = report(worker_id);
  REQUIRE(late);
  CHECK_FALSE(*late);
  CHECK(summary_of(f).total_results == 0); // cancelled: no result; the forged and late reports count nothing
}

namespace {

/// Reports `reports` times, the last one 0.5 "half way", then never replies.
worker_actor::behavior_type chatty_worker(worker_actor::pointer self, attempt_info info, int reports) {
  return {
    [self, info, reports](execute_atom, const task&, int32_t) -> caf::result<task_outcome> {
      auto rp = self->make_response_promise<task_outcome>();
      for (int i = 1; i <= reports; ++i)
        self->send(info.coordinator, progress_atom::value, info.worker_id, 0.5 * i / reports,
                   i == reports ? std::string{"half way"} : "step " + std::to_string(i));
      return rp;
    },
  };
}

/// Reports progress 0.5 "half way" through the coordinator, then never replies.
worker_actor::behavior_type progress_worker(worker_actor::pointer self, attempt_info info) {
  return {
    [self, info](execute_atom, const task&, int32_t) -> caf::result<task_outcome> {
      auto rp = self->make_response_promise<task_outcome>();
      self->send(info.coordinator, progress_atom::value, info.worker_id, 0.5, std::string{"half way"});
      return rp;
    },
  };
}

std::optional<worker_info> worker_of(fleet_fixture& f, const std::string& task_id) {
  auto ws = f.ask<std::vector<worker_info>>(workers_atom::value);
  REQUIRE(ws);
  for (const auto& w : *ws)
    if (w.task_id == task_id)
      return w;
  return std::nullopt;
}

} // namespace

TEST_CASE("a worker's progress shows with its attempt, and nobody else can report it") {
  fleet_fixture f;
  f.registry().add("progress", [](caf::actor_system& sys, const attempt_info& info) {
    return sys.spawn(progress_worker, info);
  });
  f.start();
  auto id = f.submit_ok({make_task("p", "progress"), make_task("slow", "sleep", R"({"ms": 60000})")});
  REQUIRE(f.advance_until([&] {
    auto w = worker_of(f, "p");
    return w && w->progress == 0.5;
  }));
  CHECK(worker_of(f, "p")->note == "half way");
  auto coord = f.ask<coordinator_actor>(coordinator_atom::value);
  REQUIRE(coord);
  auto slow = worker_of(f, "slow");
  REQUIRE(slow);
  CHECK(slow->progress == -1);
  // Someone else (here the test) in the name of either running attempt: neither shows.
  caf::scoped_actor self{f.sys()};
  self->send(*coord, progress_atom::value, slow->worker_id, 0.9, std::string{"forged"});
  self->send(*coord, progress_atom::value, worker_of(f, "p")->worker_id, 7.0, std::string{"too far"});
  f.run();
  CHECK(worker_of(f, "slow")->progress == -1);
  CHECK(worker_of(f, "p")->progress == 0.5);
  auto cancelled = f.ask<bool>(cancel_atom::value, id);
  REQUIRE(cancelled);
  f.run();
}

TEST_CASE("the latest progress is stored with its task about once a second, not per report") {
  fleet_fixture f;
  f.registry().add("chatty", [](caf::actor_system& sys, const attempt_info& info) {
    return sys.spawn(chatty_worker, info, 200);
  });
  f.start();
  auto id = f.submit_ok({make_task("c", "chatty"), make_task("quiet", "sleep", R"({"ms": 60000})")});
  REQUIRE(f.advance_until([&] { return worker_of(f, "c") && worker_of(f, "c")->progress == 0.5; }));
  // Not stored yet: the reports wait for the next flush.
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE progress IS NOT NULL") == 0);
  auto rows = [&] {
    auto page = f.ask<task_page>(tasks_atom::value, id, int64_t{0}, int32_t{10});
    REQUIRE(page);
    return page->items;
  };
  // A page shows the running attempt's report at once, from the manager's memory.
  CHECK(rows()[0].progress == 0.5);
  CHECK(rows()[0].note == "half way");
  CHECK(rows()[1].progress == -1);
  f.advance(1'000);
  CHECK(f.query_text("SELECT progress || ' ' || progress_note FROM tasks WHERE task_id = 'c'") == "0.5 half way");
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE progress IS NULL AND task_id = 'quiet'") == 1);
  auto page = f.ask<task_page>(tasks_atom::value, id, int64_t{0}, int32_t{0});
  REQUIRE_FALSE(page);
  CHECK(page.error() == errc::invalid_argument);
  REQUIRE(f.ask<bool>(cancel_atom::value, id));
  f.run();
  // Kept after the attempt ended: what it got to.
  CHECK(f.query_text("SELECT progress FROM tasks WHERE task_id = 'c'") == "0.5");
}
