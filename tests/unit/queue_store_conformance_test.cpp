// The queues a restart must know of, on both backends: every queue that holds a task not ended yet
// is named, whichever state (and so whichever index) the task is found through.
#include "fleet/store.hpp"
#include "store_backends.hpp"
#include "store_conformance.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace fleet;
using namespace fleet::test;

namespace {

task in_queue(std::string id, std::string queue) {
  task t{std::move(id), "echo", "{}", 0};
  t.queue = std::move(queue);
  return t;
}

template <class B>
std::vector<std::string> unfinished_queues(B& b) {
  auto names = b.store->queues_with_unfinished_tasks();
  REQUIRE(names);
  std::sort(names->begin(), names->end());
  return *names;
}

} // namespace

TEST_CASE_TEMPLATE("both stores: every queue that holds an unfinished task is named, in each state", B,
                   STORE_BACKENDS) {
  B b;
  auto delayed = in_queue("later", "delayed");
  delayed.run_at = 90000;
  auto blocked = in_queue("after", "blocked");
  blocked.after = {"first"};
  submit(b, "b1", {in_queue("first", "runnable"), delayed, blocked, in_queue("more", "runnable")});
  submit(b, "b2", {in_queue("held", "paused")});
  REQUIRE(in_transaction(*b.store, [&] { return b.store->set_batch_paused("b2", true, 1500); }));
  submit(b, "b3", {in_queue("again", "retrying"), in_queue("now", "running"), in_queue("done", "finished")});
  auto b3 = runnable(b, "retrying");
  auto running = runnable(b, "running");
  auto finished = runnable(b, "finished");
  REQUIRE(b3.size() == 1);
  REQUIRE(running.size() == 1);
  REQUIRE(finished.size() == 1);
  write(b, {started(b3[0], 1, 2000), started(running[0], 1, 2000), started(finished[0], 1, 2000)});
  write(b, {ended(b3[0], 1, 2100, task_disposition::retry), ended(finished[0], 1, 2100, task_disposition::succeeded)});
  CHECK(b.q("SELECT count(*) FROM tasks WHERE state = 'retry_wait'") == 1);
  CHECK(b.q("SELECT count(*) FROM tasks WHERE state = 'blocked'") == 1);
  CHECK(unfinished_queues(b)
        == std::vector<std::string>{"blocked", "delayed", "paused", "retrying", "runnable", "running"});
  // The runnable queue stays named while any of its tasks waits, and goes with the last.
  auto first = runnable(b, "runnable");
  REQUIRE(first.size() == 2);
  write(b, {started(first[0], 1, 3000), ended(first[0], 1, 3100, task_disposition::succeeded)});
  CHECK(b.q("SELECT count(*) FROM tasks WHERE state = 'pending' AND queue = 'blocked'") == 1); // released
  write(b, {started(first[1], 1, 3200), ended(first[1], 1, 3300, task_disposition::succeeded)});
  auto names = unfinished_queues(b);
  CHECK(std::find(names.begin(), names.end(), "runnable") == names.end());
  CHECK(std::find(names.begin(), names.end(), "blocked") != names.end());
}
