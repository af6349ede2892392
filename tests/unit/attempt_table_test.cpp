#include "fleetd/error.hpp"
#include "fleet/manager/attempt_table.hpp"
#include "fleet/text.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <vector>

using namespace fleet;

namespace {

running_attempt attempt(int64_t seq, int32_t n = 1, std::string node = local_node_name) {
  running_attempt r;
  r.seq = seq;
  r.batch_id = "b";
  r.task_id = "t" + std::to_string(seq);
  r.attempt = n;
  r.counted_before = n - 1;
  r.worker_id = "w" + std::to_string(seq);
  r.node = std::move(node);
  r.spawned_at = 1000;
  r.deadline = 1000 + 500;
  return r;
}

/// Jitter that counts how often it was drawn.
struct dice {
  int drawn = 0;
  double value = 0.5;
  std::function<double()> fn() {
    return [this] {
      ++drawn;
      return value;
    };
  }
};

} // namespace

TEST_CASE("how an attempt ends: success, with the result made UTF-8") {
  fleet_config cfg;
  dice d;
  auto end = end_of_attempt(attempt(1), success("\"caf\xe9\""), cfg, 1200, d.fn());
  CHECK(end.outcome == attempt_outcome::succeeded);
  CHECK(end.next == task_disposition::succeeded);
  CHECK(end.result == "\"caf\xef\xbf\xbd\"");
  CHECK(end.duration_ms == 200);
  CHECK(end.at == 1200);
  CHECK(end.attempt == 1);
  CHECK(d.drawn == 0);
}

TEST_CASE("how an attempt ends: a result over max-task-result fails the task without a retry") {
  fleet_config cfg;
  cfg.max_retries = 3;
  dice d;
  auto at_limit = end_of_attempt(attempt(1), success(std::string(100, 'r')), cfg, 1200, d.fn(), 100);
  CHECK(at_limit.next == task_disposition::succeeded);
  CHECK(at_limit.result.size() == 100);
  auto over = end_of_attempt(attempt(1), success(std::string(101, 'r')), cfg, 1200, d.fn(), 100);
  CHECK(over.outcome == attempt_outcome::failed);
  CHECK(over.next == task_disposition::failed);
  CHECK(over.result.empty());
  CHECK(over.error == "the result of 101 bytes is over fleet.max-task-result (100 bytes)");
  // Within the limit as sent, over it once bytes that are not UTF-8 became U+FFFD (3 bytes each).
  auto grown = end_of_attempt(attempt(1), success(std::string(50, '\xff')), cfg, 1200, d.fn(), 100);
  CHECK(grown.next == task_disposition::failed);
  CHECK(grown.result.empty());
  CHECK(grown.error == "the result of 150 bytes is over fleet.max-task-result (100 bytes)");
  CHECK(d.drawn == 0);
}

TEST_CASE("how an attempt ends: an error over max-task-result is cut at a character, and still retried") {
  fleet_config cfg;
  cfg.max_retries = 3;
  dice d;
  // "é" is two bytes: a cut in the middle of one would leave half a character.
  std::string error;
  for (int i = 0; i < 500; ++i)
    error += "\xc3\xa9";
  auto end = end_of_attempt(attempt(1), failure(error), cfg, 1200, d.fn(), 200);
  CHECK(end.next == task_disposition::retry);
  CHECK(end.error.size() <= 200);
  CHECK(is_utf8(end.error));
  const std::string note = " [cut: the error held 1000 bytes, over fleet.max-task-result]";
  REQUIRE(end.error.size() > note.size());
  CHECK(end.error.substr(end.error.size() - note.size()) == note);
  CHECK(end.error.rfind("\xc3\xa9", 0) == 0);
  // Not UTF-8, and longer than the limit: cut, then made UTF-8, and within the limit still.
  auto raw = end_of_attempt(attempt(1), failure(std::string(1000, '\xff')), cfg, 1200, d.fn(), 200);
  CHECK(raw.error.size() <= 200);
  CHECK(is_utf8(raw.error));
  auto small = end_of_attempt(attempt(1), failure("boom"), cfg, 1200, d.fn(), 200);
  CHECK(small.error == "boom");
}

TEST_CASE("a task is given its dependencies' results within max-dependency-results and one message") {
  runnable_task t;
  t.batch_id = "b";
  t.spec.id = "join";
  t.spec.type = "echo";
  t.spec.data = std::string(1000, 'd');
  constexpr size_t message = size_t{4} << 20;
  CHECK_FALSE(dependency_refusal(t, 0, 1024, message)); // nothing to give
  t.spec.deps = std::string(1010, 'j');
  CHECK_FALSE(dependency_refusal(t, 1000, 1024, message));
  // The object counts as read: a result that is not JSON grows when it is escaped.
  t.spec.deps = std::string(1030, 'j');
  CHECK(dependency_refusal(t, 1000, 1024, message)
        == "the results of its dependencies come to 1030 bytes, over fleet.max-dependency-results (1024 bytes)");
  // A read that left the object out gives only the size.
  t.spec.deps.clear();
  CHECK(dependency_refusal(t, 200'000'000, 64 << 20, message)
        == "the results of its dependencies come to 200000000 bytes, over fleet.max-dependency-results (67108864 bytes)");
  // Within the option, but not beside the task's data in one message to a node.
  auto room = message - 1000 - 4 - 4 - 1 - max_node_batch_bytes - (64 << 10);
  auto refused = dependency_refusal(t, 3 << 20, 64 << 20, message);
  REQUIRE(refused);
  CHECK(*refused == fmt::format("the results of its dependencies come to {} bytes, more than fit in one message to a"
                                " node beside the task ({} bytes within fleet.max-message-size)",
                                3 << 20, room));
  CHECK_FALSE(dependency_refusal(t, static_cast<int64_t>(room), 64 << 20, message));
}

TEST_CASE("how an attempt ends: a failure is retried after a backoff while retries are left") {
  fleet_config cfg;
  cfg.max_retries = 2;
  cfg.backoff_base_ms = 1000;
  cfg.backoff_factor = 2;
  dice d;
  d.value = 0.0; // the shortest delay: half the ceiling
  auto first = end_of_attempt(attempt(1, 1), failure("boom"), cfg, 2000, d.fn());
  CHECK(first.outcome == attempt_outcome::failed);
  CHECK(first.error == "boom");
  CHECK(first.next == task_disposition::retry);
  CHECK(first.not_before == 2000 + 500);
  auto second = end_of_attempt(attempt(1, 2), failure("boom"), cfg, 2000, d.fn());
  CHECK(second.next == task_disposition::retry);
  CHECK(second.not_before == 2000 + 1000);
  auto third = end_of_attempt(attempt(1, 3), failure("boom"), cfg, 2000, d.fn());
  CHECK(third.next == task_disposition::failed);
  CHECK(d.drawn == 2); // the dice are thrown only for a retry
}

TEST_CASE("how an attempt ends: no retry when the worker says none can help, or retries are off") {
  fleet_config cfg;
  dice d;
  auto end = end_of_attempt(attempt(1), permanent_failure("no such program"), cfg, 1000, d.fn());
  CHECK(end.next == task_disposition::failed);
  CHECK(end.error == "no such program");
  cfg.retry_failed_tasks = false;
  end = end_of_attempt(attempt(1), failure("boom"), cfg, 1000, d.fn());
  CHECK(end.next == task_disposition::failed);
  CHECK(d.drawn == 0);
}

TEST_CASE("how an attempt ends: a timeout, an error without a text, a worker that vanished") {
  fleet_config cfg;
  cfg.worker_timeout_ms = 250;
  cfg.retry_failed_tasks = false;
  dice d;
  auto timed_out = end_of_attempt(attempt(1), caf::make_error(caf::sec::request_timeout), cfg, 1300, d.fn());
  CHECK(timed_out.outcome == attempt_outcome::timed_out);
  // The timeout the attempt started with (its deadline), not the configuration's of now.
  CHECK(timed_out.error == "worker timed out after 500 ms");
  auto silent = end_of_attempt(attempt(1), failure(""), cfg, 1300, d.fn());
  CHECK(silent.outcome == attempt_outcome::failed);
  CHECK(silent.error == "task failed");
  auto vanished = end_of_attempt(attempt(1), caf::make_error(errc::worker_failed, "worker exited"), cfg, 1300,
                                 d.fn());
  CHECK(vanished.outcome == attempt_outcome::failed);
  CHECK(vanished.error.find("worker exited") != std::string::npos);
  cfg.retry_failed_tasks = true;
  vanished = end_of_attempt(attempt(1), caf::make_error(errc::worker_failed, "worker exited"), cfg, 1300, d.fn());
  CHECK(vanished.next == task_disposition::retry); // an error is never a "no retry can help"
}

TEST_CASE("an attempt lost with its node runs again, until it was lost too often") {
  auto r = attempt(1);
  auto end = lost_with_node_end(r, 1100, 3, "node n1 was dropped");
  CHECK(end.outcome == attempt_outcome::interrupted);
  CHECK(end.next == task_disposition::requeue);
  CHECK(end.orphaned);
  r.orphaned_before = 2;
  end = lost_with_node_end(r, 1100, 3, "node n1 was dropped");
  CHECK(end.next == task_disposition::failed);
  CHECK(end.error.find("node n1 was dropped") != std::string::npos);
  auto stopped = stopped_attempt_end(r, 1400, attempt_outcome::cancelled, "cancelled", task_disposition::cancelled);
  CHECK(stopped.outcome == attempt_outcome::cancelled);
  CHECK(stopped.duration_ms == 400);
  CHECK_FALSE(stopped.orphaned);
}

TEST_CASE("the table knows the current attempt of each task, and a late outcome finds nothing") {
  attempt_table table;
  table.add(attempt(1, 1));
  table.add(attempt(2, 3));
  CHECK(table.size() == 2);
  CHECK(table.runs(1));
  CHECK(table.find(1, 1));
  CHECK_FALSE(table.find(1, 2)); // another attempt of the same task
  CHECK_FALSE(table.take(2, 2));
  auto taken = table.take(2, 3);
  REQUIRE(taken);
  CHECK(taken->task_id == "t2");
  CHECK_FALSE(table.take(2, 3)); // decided once
  CHECK_FALSE(table.runs(2));
  CHECK(table.size() == 1);
}

TEST_CASE("suspects are counted while they run, however they leave") {
  attempt_table table;
  auto suspect = [](int64_t seq) {
    auto r = attempt(seq);
    r.orphaned_before = 1;
    return r;
  };
  table.add(suspect(1));
  table.add(suspect(2));
  table.add(attempt(3, 1, "n1"));
  CHECK(table.suspects_running() == 2);
  REQUIRE(table.take(1, 1));
  CHECK(table.suspects_running() == 1);
  auto on_n1 = table.take_if([](const running_attempt& r) { return r.node == "n1"; });
  REQUIRE(on_n1.size() == 1);
  CHECK(on_n1[0].seq == 3);
  CHECK(table.suspects_running() == 1);
  auto rest = table.take_if([](const running_attempt&) { return true; });
  CHECK(rest.size() == 1);
  CHECK(table.suspects_running() == 0);
  CHECK(table.empty());
}

TEST_CASE("late attempts are the ones at or past their deadline") {
  attempt_table table;
  auto r = attempt(1);
  r.deadline = 100;
  table.add(r);
  r = attempt(2);
  r.deadline = 200;
  table.add(r);
  CHECK(table.late(99).empty());
  CHECK(table.late(100) == std::vector<std::pair<int64_t, int32_t>>{{1, 1}});
  CHECK(table.late(500).size() == 2);
}

TEST_CASE("active workers: running by start (spawning until the start commits), then recent ones, bounded") {
  attempt_table table{2};
  auto later = attempt(1);
  later.spawned_at = 2000;
  table.add(later);
  table.add(attempt(2)); // spawned at 1000
  table.start_committed(2, 1);
  table.start_committed(1, 7); // not the current attempt: nothing changes
  for (int64_t seq = 10; seq < 13; ++seq)
    table.remember_finished(attempt(seq), seq % 2 == 0, 3000 + seq);
  auto workers = table.workers();
  REQUIRE(workers.size() == 4);
  CHECK(workers[0].task_id == "t2");
  CHECK(workers[0].status == worker_status::active);
  CHECK(workers[1].task_id == "t1");
  CHECK(workers[1].status == worker_status::spawning);
  CHECK(workers[1].completed_at == 0);
  CHECK(workers[2].task_id == "t12"); // newest first, at most 2 kept
  CHECK(workers[2].status == worker_status::completed);
  CHECK(workers[2].completed_at == 3012);
  CHECK(workers[3].task_id == "t11");
  CHECK(workers[3].status == worker_status::failed);
}

TEST_CASE("a worker's exit finds the attempts it runs, and nothing once they left the table") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto idle = [] { return caf::behavior{[](int) {}}; };
  auto own = sys.spawn(idle);
  auto shared = sys.spawn(idle);
  auto stranger = sys.spawn(idle);
  auto on = [](int64_t seq, const caf::actor& worker, int32_t n = 1, bool is_shared = false) {
    auto r = attempt(seq, n);
    r.worker = caf::actor_cast<caf::strong_actor_ptr>(worker);
    r.shared_worker = is_shared;
    return r;
  };
  attempt_table table;
  table.add(on(1, own, 2));
  table.add(on(2, shared, 1, true));
  table.add(on(3, shared, 1, true));
  table.add(attempt(4)); // on a node: no worker of fleetd's
  CHECK(table.find_worker(own.address()) == std::pair<int64_t, int32_t>{1, 2});
  CHECK_FALSE(table.find_worker(stranger.address()));
  CHECK(table.on_shared_worker(own.address()) == std::vector<std::pair<int64_t, int32_t>>{{1, 2}});
  // A shared worker's attempts, all of them at once; its address is not in the index.
  auto on_shared = table.on_shared_worker(shared.address());
  std::sort(on_shared.begin(), on_shared.end());
  CHECK(on_shared == std::vector<std::pair<int64_t, int32_t>>{{2, 1}, {3, 1}});
  CHECK_FALSE(table.find_worker(shared.address()));
  REQUIRE(table.take(2, 1));
  CHECK(table.on_shared_worker(shared.address()) == std::vector<std::pair<int64_t, int32_t>>{{3, 1}});
  // Taken (its outcome) or by take_if (a cancel), an attempt is not found by its worker any more.
  CHECK(table.take_if([](const running_attempt& r) { return r.seq == 1; }).size() == 1);
  CHECK_FALSE(table.find_worker(own.address()));
  table.add(on(6, own));
  table.add(on(7, own)); // a user's get_worker_instance may hand one actor to two attempts
  REQUIRE(table.take(6, 1));
  CHECK(table.find_worker(own.address()) == std::pair<int64_t, int32_t>{7, 1});
  REQUIRE(table.take(7, 1));
  CHECK_FALSE(table.find_worker(own.address()));
  // A task's attempt replaced in place (add keeps one per task): the old worker finds nothing.
  table.add(on(5, own));
  table.add(on(5, stranger, 2));
  CHECK_FALSE(table.find_worker(own.address()));
  CHECK(table.find_worker(stranger.address()) == std::pair<int64_t, int32_t>{5, 2});
  for (auto* a : {&own, &shared, &stranger})
    caf::anon_send_exit(*a, caf::exit_reason::user_shutdown);
}

TEST_CASE("a worker id finds its running attempt, and nothing once the attempt left or was replaced") {
  attempt_table table;
  table.add(attempt(1)); // worker id "w1"
  table.add(attempt(2, 3));
  REQUIRE(table.find_worker_id("w2"));
  CHECK(table.find_worker_id("w2")->attempt == 3);
  CHECK_FALSE(table.find_worker_id("w9"));
  REQUIRE(table.take(2, 3));
  CHECK_FALSE(table.find_worker_id("w2"));
  CHECK(table.find_worker_id("w1")->seq == 1);
  // Ids longer than a short string's buffer live on the heap: the index follows the attempt, not
  // the bytes.
  auto r = attempt(3);
  r.worker_id = "worker-" + std::string(40, 'x') + "-3";
  auto id = r.worker_id;
  table.add(std::move(r));
  CHECK(table.find_worker_id(id)->seq == 3);
  auto replaced = attempt(3, 2); // the same task's next attempt, added in its place
  table.add(std::move(replaced));
  CHECK_FALSE(table.find_worker_id(id));
  CHECK(table.find_worker_id("w3")->attempt == 2);
  CHECK(table.take_if([](const running_attempt& x) { return x.seq == 1; }).size() == 1);
  CHECK_FALSE(table.find_worker_id("w1"));
  CHECK(table.find_worker_id("w3"));
}
