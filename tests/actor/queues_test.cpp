// Queues: max-workers, group caps without head-of-line blocking, rates on the test clock, weights,
// pause, runtime changes that survive a restart, and bad input refused with nothing stored.
#include "fleet_fixture.hpp"
#include "temp_dir.hpp"

#include "fleetd/error.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <cmath>
#include <map>

using namespace fleet;
using namespace fleet::test;

namespace {

task in_queue(task t, std::string queue, std::string group = {}) {
  t.queue = std::move(queue);
  t.group = std::move(group);
  return t;
}

queue_limits limits_with(int32_t max_workers, int32_t group_max_workers = 0, int32_t weight = 1) {
  queue_limits l;
  l.max_workers = max_workers;
  l.group_max_workers = group_max_workers;
  l.weight = weight;
  return l;
}

/// Running attempts by the prefix of their task id (the tests name tasks "<prefix>-<n>").
std::map<std::string, int> running_by_prefix(fleet_fixture& f) {
  auto ws = f.ask<std::vector<worker_info>>(workers_atom::value);
  REQUIRE(ws);
  std::map<std::string, int> out;
  for (const auto& w : *ws)
    if (w.completed_at == 0)
      ++out[w.task_id.substr(0, w.task_id.find('-'))];
  return out;
}

queue_info queue_named(fleet_fixture& f, const std::string& name) {
  auto qs = f.ask<std::vector<queue_info>>(queues_atom::value);
  REQUIRE_MESSAGE(qs, (qs ? "" : error_text(qs.error())));
  for (const auto& q : *qs)
    if (q.name == name)
      return q;
  FAIL("no queue " << name);
  return {};
}

std::vector<task> sleepers(const std::string& prefix, int n, int ms, const std::string& queue,
                           const std::string& group = {}) {
  std::vector<task> out;
  for (int i = 0; i < n; ++i)
    out.push_back(in_queue(make_task(prefix + "-" + std::to_string(i), "sleep",
                                     "{\"ms\": " + std::to_string(ms) + "}"),
                           queue, group));
  return out;
}

fleet_config workers(int32_t n) {
  auto cfg = fleet_fixture::small_config();
  cfg.max_concurrent_workers = n;
  return cfg;
}

} // namespace

TEST_CASE("a queue's max-workers bounds its attempts, and the tasks of other queues pass them") {
  fleet_fixture f{workers(4)};
  f.set_declared_queues({{"slow", limits_with(1)}});
  f.start();
  // The slow queue's tasks come first and have the higher priority: they still take one worker.
  auto slow = sleepers("slow", 6, 100, "slow");
  for (auto& t : slow)
    t.priority = 10;
  auto a = f.submit_ok(slow);
  auto b = f.submit_ok(sleepers("fast", 6, 100, ""));
  auto running = running_by_prefix(f);
  CHECK(running["slow"] == 1);
  CHECK(running["fast"] == 3);
  int most_slow = 0;
  REQUIRE(f.advance_until([&] {
    auto now = running_by_prefix(f);
    most_slow = std::max(most_slow, now["slow"]);
    CHECK(now["slow"] + now["fast"] <= 4);
    return f.finished(a) && f.finished(b);
  }));
  CHECK(most_slow == 1);
  CHECK(f.status_of(a).completed == 6);
  CHECK(queue_named(f, "slow").started == 6);
  CHECK(queue_named(f, "default").started == 6);
}

TEST_CASE("group-max-workers bounds each group, and a busy group does not hold back the others") {
  fleet_fixture f{workers(4)};
  f.set_declared_queues({{"tenants", limits_with(0, 1)}});
  f.start();
  // Far more of group a than one read of the window holds, then one task each of b and c.
  auto tasks = sleepers("a", 300, 10, "tenants", "a");
  tasks.push_back(in_queue(make_task("b-0", "sleep", R"({"ms": 10})"), "tenants", "b"));
  tasks.push_back(in_queue(make_task("c-0", "sleep", R"({"ms": 10})"), "tenants", "c"));
  auto id = f.submit_ok(tasks);
  auto running = running_by_prefix(f);
  CHECK(running["a"] == 1);
  CHECK(running["b"] == 1);
  CHECK(running["c"] == 1);
  CHECK(queue_named(f, "tenants").groups == 3);
  int most_a = 0;
  REQUIRE(f.advance_until([&] {
    auto now = running_by_prefix(f);
    most_a = std::max(most_a, now["a"]);
    return f.finished(id);
  }, 60'000, 5));
  CHECK(most_a == 1);
  CHECK(f.status_of(id).completed == 302);
  // One at a time: the attempts of group a never overlap.
  CHECK(f.query_int("SELECT count(*) FROM attempts x JOIN attempts y ON x.task_seq < y.task_seq"
                    " JOIN tasks tx ON tx.seq = x.task_seq JOIN tasks ty ON ty.seq = y.task_seq"
                    " WHERE tx.task_group = 'a' AND ty.task_group = 'a'"
                    " AND x.started_at < y.finished_at AND y.started_at < x.finished_at")
        == 0);
}

TEST_CASE("interleaved groups at their cap come back from where they were left out, across priorities") {
  fleet_fixture f{workers(4)};
  f.set_declared_queues({{"tenants", limits_with(0, 2)}});
  f.start();
  // Groups a and b alternate through the batch at three priorities: each group's tasks left out of
  // the window lie between the other's, and its next ones are read past them.
  std::vector<task> tasks;
  for (int i = 0; i < 90; ++i) {
    auto group = i % 2 == 0 ? "a" : "b";
    auto t = in_queue(make_task(fmt::format("{}-{}", group, i), "sleep", R"({"ms": 10})"), "tenants", group);
    t.priority = i % 3;
    tasks.push_back(std::move(t));
  }
  auto id = f.submit_ok(tasks);
  std::map<std::string, int> most;
  REQUIRE(f.advance_until([&] {
    for (auto& [group, n] : running_by_prefix(f))
      most[group] = std::max(most[group], n);
    return f.finished(id);
  }, 60'000, 5));
  CHECK(f.status_of(id).completed == 90);
  CHECK(most["a"] == 2);
  CHECK(most["b"] == 2);
  // Each group's attempts started in run order: priority first, then submission (the worker ids
  // count the starts).
  for (std::string group : {"a", "b"}) {
    CAPTURE(group);
    auto started = "ORDER BY CAST(substr(x.worker_id, instr(substr(x.worker_id, 8), '-') + 8) AS INTEGER)";
    CHECK(f.query_int(std::string{"SELECT count(*) FROM (SELECT t.priority AS p, t.seq AS s,"}
                      + " lag(t.priority) OVER (" + started + ") AS lp, lag(t.seq) OVER (" + started + ") AS ls"
                      " FROM attempts x JOIN tasks t ON t.seq = x.task_seq WHERE t.task_group = '" + group + "')"
                      " WHERE lp IS NOT NULL AND (p > lp OR (p = lp AND s < ls))")
          == 0);
  }
}

TEST_CASE("a rate limit counts attempt starts on the test clock") {
  fleet_fixture f{workers(8)};
  queue_limits api;
  api.rate_count = 2;
  api.rate_interval_ms = 1000;
  f.set_declared_queues({{"api", api}});
  f.start();
  std::vector<task> tasks;
  for (int i = 0; i < 6; ++i)
    tasks.push_back(in_queue(make_task("api-" + std::to_string(i), "echo"), "api"));
  auto id = f.submit_ok(tasks);
  auto started = [&] { return f.query_int("SELECT count(*) FROM attempts"); };
  CHECK(started() == 2); // the bucket starts full
  f.advance(499);
  CHECK(started() == 2);
  f.advance(1);
  CHECK(started() == 3); // one start every 500 ms
  f.advance(500);
  CHECK(started() == 4);
  f.advance(1000);
  CHECK(started() == 6);
  CHECK(f.finished(id));
  // The other queues are not held back by it.
  auto other = f.submit_ok({make_task("free-0", "echo"), make_task("free-1", "echo"), make_task("free-2", "echo")});
  CHECK(f.finished(other));
}

TEST_CASE("weights share the workers within one task of the ideal over a run") {
  fleet_fixture f{workers(1)};
  f.set_declared_queues({{"gold", limits_with(0, 0, 3)}, {"bronze", limits_with(0, 0, 1)}});
  f.start();
  // Bronze's tasks come first and rank higher: weights, not order or priority, share the worker.
  auto bronze = sleepers("bronze", 40, 10, "bronze");
  for (auto& t : bronze)
    t.priority = 100;
  f.submit_ok(bronze);
  f.submit_ok(sleepers("gold", 40, 10, "gold"));
  for (int step = 0; step < 40; ++step) {
    auto gold = queue_named(f, "gold").started;
    auto brz = queue_named(f, "bronze").started;
    auto total = gold + brz;
    CAPTURE(step);
    CAPTURE(gold);
    CAPTURE(brz);
    CHECK(std::abs(static_cast<double>(gold) - 0.75 * static_cast<double>(total)) <= 1.0);
    f.advance(10);
  }
}

TEST_CASE("a paused queue starts nothing until it is resumed, and other queues run") {
  fleet_fixture f{workers(2)};
  f.set_declared_queues({{"mail", queue_limits{}}});
  f.start();
  queue_change pause;
  pause.paused = 1;
  auto paused = f.ask<queue_info>(queue_set_atom::value, std::string{"mail"}, pause);
  REQUIRE(paused);
  CHECK(paused->limits.paused);
  auto id = f.submit_ok({in_queue(make_task("mail-0", "echo"), "mail")});
  auto other = f.submit_ok({make_task("x-0", "echo")});
  f.advance(1000);
  CHECK(f.finished(other));
  CHECK_FALSE(f.finished(id));
  CHECK(queue_named(f, "mail").pending == 1);
  queue_change resume;
  resume.paused = 0;
  REQUIRE(f.ask<queue_info>(queue_set_atom::value, std::string{"mail"}, resume));
  CHECK(f.finished(id));
}

TEST_CASE("a runtime change is stored with its event, wins over the config file after a restart, and tasks keep their queue") {
  temp_dir dir;
  auto db = dir.file("fleet.db");
  std::string id;
  {
    fleet_fixture first{workers(4), db};
    first.set_declared_queues({{"batch", limits_with(2)}});
    first.start();
    queue_change change;
    change.max_workers = 1;
    change.rate_count = 100;
    change.rate_interval_ms = 1000;
    auto info = first.ask<queue_info>(queue_set_atom::value, std::string{"batch"}, change);
    REQUIRE(info);
    CHECK(info->limits.max_workers == 1);
    CHECK(info->declared);
    // A queue made at runtime.
    queue_change made;
    made.weight = 5;
    auto fresh = first.ask<queue_info>(queue_set_atom::value, std::string{"reports"}, made);
    REQUIRE(fresh);
    CHECK(fresh->limits.weight == 5);
    CHECK_FALSE(fresh->declared);
    id = first.submit_ok(sleepers("batch", 4, 1000, "batch"));
    CHECK(running_by_prefix(first)["batch"] == 1);
    CHECK(first.query_int("SELECT count(*) FROM events WHERE kind = 'queue_changed'") == 2);
    CHECK(first.query_text("SELECT json_extract(detail, '$.limits.rate') FROM events WHERE kind = 'queue_changed'"
                           " ORDER BY id LIMIT 1")
          == "100/1s");
  }
  fleet_fixture second{workers(4), db};
  second.set_declared_queues({{"batch", limits_with(2)}});
  second.start();
  auto batch = queue_named(second, "batch");
  CHECK(batch.limits.max_workers == 1);
  CHECK(batch.limits.rate_count == 100);
  CHECK(queue_named(second, "reports").limits.weight == 5);
  CHECK(second.query_int("SELECT count(*) FROM tasks WHERE queue = 'batch'") == 4);
  int most = 0;
  REQUIRE(second.advance_until([&] {
    most = std::max(most, running_by_prefix(second)["batch"]);
    return second.finished(id);
  }, 60'000));
  CHECK(most == 1);
}

TEST_CASE("an unknown queue and bad limits are refused with a clear error, and nothing is stored") {
  fleet_fixture f;
  f.start();
  auto refused = f.ask<std::string>(submit_atom::value,
                                    std::vector<task>{in_queue(make_task("t", "echo"), "emials")});
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == errc::invalid_task);
  CHECK(error_text(refused.error()).find("no queue is named \"emials\"") != std::string::npos);
  auto bad_name = f.ask<std::string>(submit_atom::value, std::vector<task>{in_queue(make_task("t", "echo"), "../x")});
  REQUIRE_FALSE(bad_name);
  CHECK(error_text(bad_name.error()).find("must start with a letter or a digit") != std::string::npos);
  auto bad_group = f.ask<std::string>(submit_atom::value,
                                      std::vector<task>{in_queue(make_task("t", "echo"), "", "a\x01")});
  REQUIRE_FALSE(bad_group);
  CHECK(error_text(bad_group.error()).find("control character") != std::string::npos);
  CHECK(f.query_int("SELECT count(*) FROM batches") == 0);

  auto set = [&](const std::string& name, queue_change c) {
    return f.ask<queue_info>(queue_set_atom::value, name, c);
  };
  queue_change negative;
  negative.max_workers = -5;
  CHECK(set("q", negative).error() == errc::invalid_config);
  queue_change zero_weight;
  zero_weight.weight = 0;
  CHECK(set("q", zero_weight).error() == errc::invalid_config);
  queue_change half_rate;
  half_rate.rate_count = 5;
  half_rate.rate_interval_ms = 0;
  CHECK(set("q", half_rate).error() == errc::invalid_config);
  queue_change nothing;
  CHECK(set("q", nothing).error() == errc::invalid_config);
  queue_change fine;
  fine.max_workers = 2;
  CHECK(set("bad name", fine).error() == errc::invalid_config);
  CHECK(f.query_int("SELECT count(*) FROM queues") == 0);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'queue_changed'") == 0);
}

TEST_CASE("at most 1000 queues: one more is refused, and changing an existing one still works") {
  fleet_fixture f;
  f.start();
  queue_change weight;
  weight.weight = 2;
  for (int i = 1; i < 1000; ++i)
    REQUIRE(f.ask<queue_info>(queue_set_atom::value, "q" + std::to_string(i), weight));
  auto refused = f.ask<queue_info>(queue_set_atom::value, std::string{"one-too-many"}, weight);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == errc::limit_exceeded);
  CHECK(f.ask<queue_info>(queue_set_atom::value, std::string{"q1"}, weight));
  CHECK(f.query_int("SELECT count(*) FROM queues") == 999);
}

TEST_CASE("a submit enters the windows without a read: past a window's room, and ahead of a running batch") {
  // 5,000 tasks into a queue whose reads found the end: more than a window takes in, so the
  // reads go on after the last one that entered; then 50 that outrank them, while 64 run.
  fleet_fixture f{workers(64)};
  f.start();
  auto first = sleepers("a", 5000, 10, {});
  auto a = f.submit_ok(first);
  auto urgent = sleepers("u", 50, 10, {});
  for (auto& t : urgent)
    t.priority = 5;
  auto u = f.submit_ok(urgent);
  REQUIRE(f.advance_until([&] { return f.finished(a) && f.finished(u); }, 60'000, 10));
  CHECK(f.status_of(a).completed == 5000);
  CHECK(f.status_of(u).completed == 50);
  CHECK(f.query_int("SELECT count(*) FROM attempts") == 5050);
  CHECK(f.query_int("SELECT count(DISTINCT task_seq) FROM attempts") == 5050);
  // By start (the worker ids count the starts): the 64 of the first batch that ran when the
  // urgent ones came, then all 50 of those, then the rest of the first batch in its order.
  auto starts = "(SELECT t.task_id AS id, t.seq AS seq, CAST(substr(x.worker_id, instr(substr(x.worker_id, 8), '-') + 8)"
                " AS INTEGER) AS n FROM attempts x JOIN tasks t ON t.seq = x.task_seq)";
  auto first_urgent = f.query_int(std::string{"SELECT min(n) FROM "} + starts + " WHERE id LIKE 'u-%'");
  auto last_urgent = f.query_int(std::string{"SELECT max(n) FROM "} + starts + " WHERE id LIKE 'u-%'");
  CHECK(f.query_int(std::string{"SELECT count(*) FROM "} + starts + " WHERE id LIKE 'a-%' AND n < "
                    + std::to_string(first_urgent))
        == 64);
  CHECK(last_urgent - first_urgent == 49);
  CHECK(f.query_int(std::string{"SELECT count(*) FROM (SELECT seq, lag(seq) OVER (ORDER BY n) AS before FROM "} + starts
                    + " WHERE id LIKE 'a-%') WHERE before IS NOT NULL AND seq < before")
        == 0);
}

TEST_CASE("a queue an earlier config file had comes back paused with the tasks it holds, and runs them once resumed") {
  temp_dir dir;
  auto db = dir.file("fleet.db");
  std::string id;
  {
    fleet_fixture first{workers(1), db};
    first.set_declared_queues({{"old", limits_with(1)}});
    first.start();
    id = first.submit_ok(sleepers("old", 3, 1000, "old"));
  }
  fleet_fixture second{workers(4), db};
  second.start(); // without [queue.old]
  auto old = queue_named(second, "old");
  CHECK(old.limits.paused);
  CHECK_FALSE(old.declared);
  CHECK(old.pending == 3);
  second.advance(5'000);
  CHECK(second.query_int("SELECT count(*) FROM attempts") == 1); // the first run's, interrupted
  queue_change resume;
  resume.max_workers = 4;
  resume.paused = 0;
  REQUIRE(second.ask<queue_info>(queue_set_atom::value, std::string{"old"}, resume));
  REQUIRE(second.advance_until([&] { return second.finished(id); }, 60'000, 100));
  CHECK(second.status_of(id).completed == 3);
}
