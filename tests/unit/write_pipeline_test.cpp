#include "fleetd/error.hpp"
#include "fleet/store.hpp"
#include "fleet/write_pipeline.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <type_traits>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

using namespace fleet;
using fleet::test::temp_dir;

namespace {

std::vector<task> two_tasks() {
  return {task{"a", "echo", "{}", 0}, task{"b", "echo", "{}", 0}};
}

std::shared_ptr<fleet_store> open_store(const std::string& path) {
  auto s = fleet_store::open({path, "normal"});
  REQUIRE(s);
  return std::shared_ptr<fleet_store>(std::move(*s));
}

/// Counts notifications and lets the test wait for outcomes of the threaded pipeline.
struct outcome_waiter {
  std::mutex mtx;
  std::condition_variable cv;
  int notified = 0;

  std::function<void()> notifier() {
    return [this] {
      std::lock_guard<std::mutex> guard{mtx};
      ++notified;
      cv.notify_all();
    };
  }

  /// Collects outcomes until `n` arrived (each notification may carry several).
  std::vector<caf::error> take(write_pipeline& p, size_t n) {
    std::vector<caf::error> out;
    while (out.size() < n) {
      for (auto& err : p.take_outcomes())
        out.push_back(std::move(err));
      if (out.size() >= n)
        break;
      std::unique_lock<std::mutex> lock{mtx};
      cv.wait_for(lock, std::chrono::milliseconds(50));
    }
    return out;
  }
};

/// The threaded or the inline pipeline, its outcomes announced to `waiter`.
std::unique_ptr<write_pipeline> make_pipeline(bool threaded, std::shared_ptr<fleet_store> store,
                                              outcome_waiter& waiter) {
  return threaded ? make_threaded_pipeline(std::move(store), waiter.notifier())
                  : make_inline_pipeline(std::move(store), waiter.notifier());
}

/// Jobs that count their runs and fail (or not) as told.
struct counted_jobs {
  std::atomic<int> ran{0};
  write_pipeline::job operator()(caf::error outcome) {
    return [this, outcome](fleet_store&) -> caf::error {
      ++ran;
      return outcome;
    };
  }
};

} // namespace

TEST_CASE("the threaded writer runs jobs in order, each in its own transaction") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  auto store = open_store(path);
  auto reader = store->open_reader();
  REQUIRE(reader);
  outcome_waiter waiter;
  auto pipeline = make_threaded_pipeline(store, waiter.notifier());
  std::vector<std::thread::id> threads;
  pipeline->post([&](fleet_store& s) {
    threads.push_back(std::this_thread::get_id());
    return s.insert_batch("b1", two_tasks(), 1000);
  });
  // A duplicate batch id fails inside its transaction; the jobs around it are unaffected.
  pipeline->post([](fleet_store& s) { return s.insert_batch("b1", two_tasks(), 1000); });
  pipeline->post([&](fleet_store& s) {
    threads.push_back(std::this_thread::get_id());
    return s.insert_batch("b2", two_tasks(), 1000);
  });
  auto outcomes = waiter.take(*pipeline, 3);
  REQUIRE(outcomes.size() == 3);
  CHECK_FALSE(outcomes[0]);
  CHECK(outcomes[1]);
  CHECK_FALSE(outcomes[2]);
  CHECK(waiter.notified >= 1);
  REQUIRE(threads.size() == 2);
  CHECK(threads[0] != std::this_thread::get_id());
  // The read-only connection sees both committed batches.
  auto st = (*reader)->status("b2");
  REQUIRE(st);
  CHECK(st->total == 2);
  auto stats = (*reader)->stats();
  REQUIRE(stats);
  CHECK(stats->total_batches == 2);
  CHECK(stats->total_tasks == 4);
}

TEST_CASE("the threaded writer finishes every posted job before its destructor returns") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  auto store = open_store(path);
  std::atomic<int> ran{0};
  {
    auto pipeline = make_threaded_pipeline(store, [] {});
    for (int i = 0; i < 20; ++i)
      pipeline->post([&, i](fleet_store& s) {
        ++ran;
        return s.insert_batch("b" + std::to_string(i), two_tasks(), 1000);
      });
  }
  CHECK(ran == 20);
  auto reader = store->open_reader();
  REQUIRE(reader);
  auto stats = (*reader)->stats();
  REQUIRE(stats);
  CHECK(stats->total_batches == 20);
}

TEST_CASE("the inline writer commits before post returns and notifies once per job") {
  temp_dir dir;
  auto store = open_store(dir.file("fleet.db"));
  int notified = 0;
  auto pipeline = make_inline_pipeline(store, [&] { ++notified; });
  pipeline->post([](fleet_store& s) { return s.insert_batch("b1", two_tasks(), 1000); });
  pipeline->post([](fleet_store&) { return caf::make_error(errc::database_error, "injected"); });
  CHECK(notified == 2);
  auto outcomes = pipeline->take_outcomes();
  REQUIRE(outcomes.size() == 2);
  CHECK_FALSE(outcomes[0]);
  CHECK(error_text(outcomes[1]).find("injected") != std::string::npos);
  CHECK(pipeline->take_outcomes().empty());
}

TEST_CASE("a failed job leaves nothing of its own writes behind") {
  temp_dir dir;
  auto store = open_store(dir.file("fleet.db"));
  auto pipeline = make_inline_pipeline(store, [] {});
  pipeline->post([](fleet_store& s) -> caf::error {
    if (auto err = s.insert_batch("b1", two_tasks(), 1000))
      return err;
    return caf::make_error(errc::database_error, "injected after the insert");
  });
  REQUIRE(pipeline->take_outcomes().size() == 1);
  auto reader = store->open_reader();
  REQUIRE(reader);
  auto st = (*reader)->status("b1");
  CHECK_FALSE(st);
}

// The reader offers reads only: no transaction, no mutating call (a build error, not a runtime one).
template <class Store>
constexpr bool can_write = requires(Store& s) {
  s.transaction();
  s.insert_batch("b1", std::vector<task>{}, 0);
};
template <class Store>
constexpr bool can_cancel = requires(Store& s) { s.cancel_batch("b1", 0); };
static_assert(can_write<fleet_store> && can_cancel<fleet_store>);
static_assert(!can_write<store_reader> && !can_cancel<store_reader>);
static_assert(!std::is_convertible_v<store_reader*, fleet_store*>);

TEST_CASE("the reader reads what the writer committed, and only that") {
  temp_dir dir;
  auto store = open_store(dir.file("fleet.db"));
  auto reader = store->open_reader();
  REQUIRE(reader);
  CHECK((*reader)->status("b1").error() == errc::unknown_batch);
  {
    auto tx = store->transaction();
    REQUIRE_FALSE(tx.begin());
    REQUIRE_FALSE(store->insert_batch("b1", two_tasks(), 1000));
    // Not committed yet: the reader's connection still sees the last commit.
    CHECK((*reader)->status("b1").error() == errc::unknown_batch);
    REQUIRE_FALSE(tx.commit());
  }
  auto st = (*reader)->status("b1");
  REQUIRE(st);
  CHECK(st->total == 2);
}

TEST_CASE("a job that throws fails like a refused write, rolls back, and the writer goes on") {
  temp_dir dir;
  auto store = open_store(dir.file("fleet.db"));
  std::mutex mtx;
  std::condition_variable cv;
  size_t ready = 0;
  auto pipeline = make_threaded_pipeline(store, [&] {
    std::lock_guard<std::mutex> guard{mtx};
    ++ready;
    cv.notify_one();
  });
  pipeline->post([](fleet_store& s) -> caf::error {
    if (auto err = s.insert_batch("b1", two_tasks(), 1000))
      return err;
    throw std::runtime_error("boom");
  });
  std::vector<caf::error> outcomes;
  auto wait_for = [&](size_t n) {
    while (outcomes.size() < n) {
      std::unique_lock<std::mutex> lock{mtx};
      cv.wait(lock, [&] { return ready > 0; });
      ready = 0;
      lock.unlock();
      for (auto& err : pipeline->take_outcomes())
        outcomes.push_back(std::move(err));
    }
  };
  wait_for(1);
  CHECK(outcomes[0] == errc::storage_unavailable);
  CHECK(error_text(outcomes[0]) == "the write threw: boom");
  // Like a refused write, it holds back what is posted behind it until the caller resumes.
  pipeline->resume();
  pipeline->post([](fleet_store& s) { return s.insert_batch("b2", two_tasks(), 1000); });
  wait_for(2);
  CHECK_FALSE(outcomes[1]);
  pipeline.reset();
  auto reader = store->open_reader();
  REQUIRE(reader);
  CHECK_FALSE((*reader)->status("b1"));
  CHECK((*reader)->status("b2"));
}

TEST_CASE("run() waits for its job after the posted ones, returns its outcome, and queues none") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  auto store = open_store(path);
  for (bool threaded : {false, true}) {
    CAPTURE(threaded);
    outcome_waiter waiter;
    auto pipeline = make_pipeline(threaded, store, waiter);
    auto prefix = threaded ? std::string{"t"} : std::string{"i"};
    pipeline->post([&](fleet_store& s) { return s.insert_batch(prefix + "1", two_tasks(), 1000); });
    int64_t seen_batches = -1;
    auto err = pipeline->run([&](fleet_store& s) -> caf::error {
      auto st = s.stats(); // the posted job committed before this one runs
      if (!st)
        return st.error();
      seen_batches = st->total_batches;
      return s.insert_batch(prefix + "2", two_tasks(), 1000);
    });
    CHECK_FALSE(err);
    CHECK(seen_batches == (threaded ? 3 : 1)); // i1, i2, t1 before the threaded run()
    // A failing run() rolls back and says why.
    err = pipeline->run([&](fleet_store& s) { return s.insert_batch(prefix + "2", two_tasks(), 1000); });
    CHECK(err);
    // Only the posted job's outcome is queued.
    auto outcomes = waiter.take(*pipeline, 1);
    CHECK(outcomes.size() == 1);
    CHECK(pipeline->take_outcomes().empty());
  }
  auto reader = store->open_reader();
  REQUIRE(reader);
  auto stats = (*reader)->stats();
  REQUIRE(stats);
  CHECK(stats->total_batches == 4);
}

TEST_CASE("after a job refused for lack of storage, the jobs posted behind it fail unrun until resume") {
  temp_dir dir;
  for (bool threaded : {false, true}) {
    CAPTURE(threaded);
    auto store = open_store(dir.file(threaded ? "t.db" : "i.db"));
    outcome_waiter waiter;
    auto pipeline = make_pipeline(threaded, store, waiter);
    counted_jobs counted;
    auto& ran = counted.ran;
    pipeline->post(counted(caf::make_error(errc::storage_unavailable, "disk I/O error")));
    pipeline->post(counted(caf::none)); // would commit after the refused one: it must not
    pipeline->post(counted(caf::none));
    auto outcomes = waiter.take(*pipeline, 3);
    REQUIRE(outcomes.size() == 3);
    for (const auto& err : outcomes) {
      CHECK(err == errc::storage_unavailable);
      CHECK(error_text(err).find("disk I/O error") != std::string::npos);
    }
    CHECK(ran == 1);
    // A refusal for another reason holds nothing back.
    pipeline->resume();
    pipeline->post(counted(caf::make_error(errc::invalid_task, "not a task")));
    pipeline->post(counted(caf::none));
    outcomes = waiter.take(*pipeline, 2);
    REQUIRE(outcomes.size() == 2);
    CHECK(outcomes[0] == errc::invalid_task);
    CHECK_FALSE(outcomes[1]);
    CHECK(ran == 3);
    // run() is outside the order: it runs, and its refusal holds no posted job back.
    CHECK(pipeline->run(counted(caf::make_error(errc::storage_unavailable, "full"))) == errc::storage_unavailable);
    pipeline->post(counted(caf::none));
    outcomes = waiter.take(*pipeline, 1);
    REQUIRE(outcomes.size() == 1);
    CHECK_FALSE(outcomes[0]);
    CHECK(ran == 5);
  }
}

TEST_CASE("a failed prerequisite job holds the jobs behind it back, whatever its error") {
  temp_dir dir;
  for (bool threaded : {false, true}) {
    CAPTURE(threaded);
    auto store = open_store(dir.file(threaded ? "t.db" : "i.db"));
    outcome_waiter waiter;
    auto pipeline = make_pipeline(threaded, store, waiter);
    counted_jobs counted;
    auto& ran = counted.ran;
    // A group commit that failed on a busy lock or a constraint: the group behind it may end an
    // attempt that it started, so it must not commit first.
    pipeline->post(counted(caf::make_error(errc::database_error, "database is locked")),
                   write_pipeline::kind::prerequisite);
    pipeline->post(counted(caf::none), write_pipeline::kind::prerequisite);
    pipeline->post(counted(caf::none));
    auto outcomes = waiter.take(*pipeline, 3);
    REQUIRE(outcomes.size() == 3);
    for (const auto& err : outcomes)
      CHECK(err == errc::database_error);
    CHECK(error_text(outcomes[0]) == "database is locked");
    CHECK(error_text(outcomes[1]).find("not written, because a write before it failed: database is locked") == 0);
    CHECK(ran == 1);
    CHECK(holds_back(write_pipeline::kind::prerequisite, outcomes[0]));
    CHECK_FALSE(holds_back(write_pipeline::kind::independent, outcomes[0]));
    CHECK_FALSE(holds_back(write_pipeline::kind::prerequisite, caf::none));
    // After resume the jobs run again; an independent job's own error holds nothing back.
    pipeline->resume();
    pipeline->post(counted(caf::make_error(errc::database_error, "UNIQUE constraint failed")));
    pipeline->post(counted(caf::none), write_pipeline::kind::prerequisite);
    outcomes = waiter.take(*pipeline, 2);
    REQUIRE(outcomes.size() == 2);
    CHECK(outcomes[0] == errc::database_error);
    CHECK_FALSE(outcomes[1]);
    CHECK(ran == 3);
  }
}
