// Every message type must survive CAF's binary serialization, or it cannot cross to a remote node.

#include "fleetd/interfaces.hpp"
#include "fleetd/error.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <doctest/doctest.h>

#include <deque>

using namespace fleet;

namespace {

template <class T>
T round_trip(caf::actor_system& sys, T value) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  REQUIRE_FALSE(sink(value));
  T copy;
  caf::binary_deserializer source{sys, buf};
  REQUIRE_FALSE(source(copy));
  return copy;
}

} // namespace

TEST_CASE("message types round-trip through CAF's serializer") {
  caf::actor_system_config cfg;
  register_fleet_types(cfg);
  caf::actor_system sys{cfg};
  auto t = round_trip(sys, task{"id-1", "echo", R"({"a":[1,2]})", -7});
  CHECK(t.id == "id-1");
  CHECK(t.type == "echo");
  CHECK(t.data == R"({"a":[1,2]})");
  CHECK(t.priority == -7);
  task with_policy{"p", "echo", "{}", 0};
  with_policy.policy = {250, 0, 1'000, 1};
  CHECK(round_trip(sys, with_policy) == with_policy);
  batch_status sent{"b", batch_state::partial, 4, 2, 1, 1, 1.0, 10, 20, 30};
  sent.key = "schedule:nightly@2026-12-02T03:00:00.000Z";
  auto st = round_trip(sys, sent);
  CHECK(st.status == batch_state::partial);
  CHECK(st.key == sent.key);
  CHECK(st.cancelled == 1);
  CHECK(st.finished_at == 30);
  auto r = round_trip(sys, task_result{"t", false, "", "boom", 3, 42});
  CHECK(r.error == "boom");
  CHECK(r.attempts == 3);
  config_update u;
  u.max_retries = 5;
  u.backoff_factor = 1.5;
  auto u2 = round_trip(sys, u);
  REQUIRE(u2.max_retries);
  CHECK(*u2.max_retries == 5);
  CHECK(*u2.backoff_factor == 1.5);
  CHECK_FALSE(u2.max_concurrent_workers);
  fleet_config c;
  c.max_concurrent_workers = 99;
  CHECK(round_trip(sys, c) == c);
  auto w = round_trip(sys, worker_info{"w", "b", "t", 2, worker_status::failed, 5, 6, "node-7", 0.75, "resizing"});
  CHECK(w.node == "node-7");
  CHECK(w.progress == 0.75);
  CHECK(w.note == "resizing");
  CHECK(w.status == worker_status::failed);
  CHECK(round_trip(sys, fleet_stats{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}).max_concurrent_workers == 10);
  CHECK(round_trip(sys, result_summary{3, 2, 1, 0.5, 12.5}).average_duration_ms == 12.5);
  auto a = round_trip(sys, node_announcement{"gpu-1", {"echo", "sleep"}, 16, {{"w-1", 42, 1, "SIGTERM"}}});
  CHECK(a.name == "gpu-1");
  CHECK(a.types == std::vector<std::string>{"echo", "sleep"});
  CHECK(a.capacity == 16);
  REQUIRE(a.stopped_orphans.size() == 1); // what a restarted node stopped crosses the wire whole
  CHECK(a.stopped_orphans[0].label == "w-1");
  CHECK(a.stopped_orphans[0].pid == 42);
  CHECK(a.stopped_orphans[0].how == "SIGTERM");
  auto letters = round_trip(sys, dead_letter_page{{dead_letter{"b", "t", "fail", 4, "boom", 99}}, 17, true});
  REQUIRE(letters.items.size() == 1);
  CHECK(letters.items[0].error == "boom");
  CHECK(letters.items[0].failed_at == 99);
  CHECK(letters.next_cursor == 17);
  auto welcome = round_trip(sys, node_welcome{250, 4000});
  CHECK(welcome.heartbeat_ms == 250);
  CHECK(welcome.timeout_ms == 4000);
  auto n = round_trip(sys, node_info{"gpu-1", {"echo"}, -1, 3, 11, 12});
  CHECK(n.capacity == -1);
  CHECK(n.running == 3);
  CHECK(n.last_heartbeat == 12);
  auto work = round_trip(sys, std::vector<node_attempt>{{41, 2, "w-9", task{"t", "echo", "{}", 3}, 1500}});
  REQUIRE(work.size() == 1);
  CHECK(work[0].seq == 41);
  CHECK(work[0].attempt == 2);
  CHECK(work[0].worker_id == "w-9");
  CHECK(work[0].spec.priority == 3);
  CHECK(work[0].timeout_ms == 1500);
  auto outcomes = round_trip(sys, std::vector<node_outcome>{
                                    {41, 2, "w-9", success(R"({"n":1})"), {}},
                                    {42, 1, "w-10", {}, caf::make_error(errc::worker_failed, "gone")}});
  REQUIRE(outcomes.size() == 2);
  CHECK(outcomes[0].outcome.success);
  CHECK(outcomes[0].outcome.result == R"({"n":1})");
  CHECK_FALSE(outcomes[0].error);
  CHECK(outcomes[1].error == errc::worker_failed);
  CHECK(sys.render(outcomes[1].error).find("gone") != std::string::npos);
}

TEST_CASE("fleet errors render with their code and text for remote peers") {
  caf::actor_system_config cfg;
  register_fleet_types(cfg);
  caf::actor_system sys{cfg};
  auto err = caf::make_error(errc::unknown_batch, std::string{"batch b-1 not found"});
  CHECK(sys.render(err) == "unknown_batch: batch b-1 not found");
}

TEST_CASE("a list of tasks has CAF's sequence format, and a forged count reserves nothing") {
  caf::actor_system_config cfg;
  register_fleet_types(cfg);
  caf::actor_system sys{cfg};
  std::vector<task> tasks;
  for (int i = 0; i < 300; ++i)
    tasks.push_back(task{std::to_string(i), i % 2 ? "echo" : "sleep", R"({"n":)" + std::to_string(i) + "}", i % 5});
  tasks[7].after = {"1", "2"};
  tasks[9].queue = "q";
  tasks[9].group = "g";
  // A deque goes through CAF's own sequence code: a peer without fleetd's overload reads and
  // writes the same bytes.
  std::deque<task> as_caf_writes(tasks.begin(), tasks.end());
  std::vector<char> ours;
  std::vector<char> cafs;
  {
    caf::binary_serializer sink{sys, ours};
    REQUIRE_FALSE(sink(tasks));
    caf::binary_serializer caf_sink{sys, cafs};
    REQUIRE_FALSE(caf_sink(as_caf_writes));
  }
  CHECK(ours == cafs);
  std::vector<task> loaded{task{"stale", "echo", "{}", 0}};
  caf::binary_deserializer source{sys, cafs};
  REQUIRE_FALSE(source(loaded));
  CHECK(loaded == tasks);
  CHECK(source.remaining() == 0);

  // A count of 2^32 - 1 tasks (CAF's largest) with the bytes of one: the load fails when the bytes
  // run out, and it did not try to reserve room for the count (1.2 TB: std::bad_alloc here).
  std::vector<char> forged;
  {
    caf::binary_serializer sink{sys, forged};
    size_t huge = 0xFFFF'FFFFu;
    REQUIRE_FALSE(sink.begin_sequence(huge));
    REQUIRE_FALSE(sink(tasks[0]));
  }
  std::vector<task> victim;
  caf::binary_deserializer forged_source{sys, forged};
  CHECK(forged_source(victim));
  CHECK(victim.capacity() <= 2); // room for the one task the bytes hold; the vector grew once after it
  // A count above what the bytes can hold but small: reserved only as far as the bytes go.
  std::vector<char> short_of{ours.begin(), ours.begin() + static_cast<std::ptrdiff_t>(ours.size() / 2)};
  std::vector<task> half;
  caf::binary_deserializer short_source{sys, short_of};
  CHECK(short_source(half));
  CHECK(half.size() < tasks.size());
}
